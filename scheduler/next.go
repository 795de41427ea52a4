package scheduler

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tagcast/tagcast/campaign"
)

// maxAmbiguousSteps bounds the wall-clock candidates NextFire skips because
// their only (first) occurrence lies before the instant asked about: at most
// one repeated hour of a per-second cron.
const maxAmbiguousSteps = 2 * 3600

// NextFire returns the first fire of s strictly after t, in UTC; ok is false
// when the schedule has no fire after t (a one-off already past, a cron past
// its end or with no time within five years). Cron wall-clock times follow
// the package's daylight saving rules (see the package documentation).
func NextFire(s campaign.Schedule, t time.Time) (next time.Time, ok bool, err error) {
	switch s.Kind() {
	case "now":
		return time.Time{}, false, nil
	case "at":
		if s.At.After(t) {
			return s.At.UTC(), true, nil
		}
		return time.Time{}, false, nil
	}
	sched, loc, err := campaign.ParseCron(s.Cron, s.Timezone)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("schedule.cron: %w", err)
	}
	if s.Start != nil && t.Before(*s.Start) {
		t = s.Start.Add(-time.Nanosecond)
	}
	if spec, isSpec := sched.(*cron.SpecSchedule); isSpec {
		next, ok = nextWallClock(*spec, loc, t)
	} else {
		next = sched.Next(t.In(loc))
		ok = !next.IsZero()
	}
	if !ok || (s.End != nil && !next.Before(*s.End)) {
		return time.Time{}, false, nil
	}
	return next.UTC(), true, nil
}

// FirstFire is the first fire of a schedule created at now (its first
// next_run_at); ok is false when it never fires.
func FirstFire(s campaign.Schedule, now time.Time) (time.Time, bool, error) {
	switch s.Kind() {
	case "now":
		return now.UTC(), true, nil
	case "at":
		return s.At.UTC(), true, nil
	}
	return NextFire(s, now)
}

// nextWallClock walks the spec's wall-clock times (computed in UTC, where
// no clock ever jumps) and maps each to its instant in loc, returning the
// first instant strictly after t.
func nextWallClock(spec cron.SpecSchedule, loc *time.Location, t time.Time) (time.Time, bool) {
	spec.Location = time.UTC
	w := wallClock(t, loc)
	for range maxAmbiguousSteps {
		w = spec.Next(w)
		if w.IsZero() {
			return time.Time{}, false
		}
		if at := instantOf(w, loc); at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// wallClock is t's local date and time in loc, written as a UTC time.
func wallClock(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// instantOf maps a wall-clock time (written as UTC) to the instant it fires
// at in loc: its only occurrence; the first of two when clocks fall back;
// the end of the gap when clocks spring forward over it.
func instantOf(w time.Time, loc *time.Location) time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	got := wallClock(t, loc)
	if !got.Equal(w) {
		// w does not exist: time.Date normalised it to one side of the gap.
		start, end := t.ZoneBounds()
		if got.After(w) {
			return start // t is after the gap, which ends where its zone starts
		}
		return end
	}
	// Clocks falling back just before t's zone started repeat the wall
	// clock: prefer the earlier occurrence.
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return t
	}
	_, prevOff := start.Add(-time.Nanosecond).Zone()
	_, off := t.Zone()
	if prevOff > off {
		earlier := t.Add(-time.Duration(prevOff-off) * time.Second)
		if earlier.Before(start) && wallClock(earlier, loc).Equal(w) {
			return earlier
		}
	}
	return t
}
