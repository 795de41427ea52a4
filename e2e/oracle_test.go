//go:build e2e

package e2e

import (
	"fmt"
	"sort"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// The fire oracle: the scenario's expected fires, computed without
// tagcast's calculator (campaign.Schedule.NextAfter is the one the
// scheduler itself uses, so expecting its output would let a scheduling bug
// agree with itself). Each cron kind of the scenario carries a wallRule
// written out by hand from its spec; the oracle lists the rule's wall-clock
// times and maps each to an instant by the documented rule, in a way of its
// own: the earliest instant whose wall clock in the zone is at or past it
// (the only occurrence; the first of two when clocks fall back; the end of
// the gap when they spring forward, several skipped times being one fire).

// wallRule is a cron spec spelled out: the zone its fields are read in and
// the seconds, minutes, hours and weekdays it matches (nil days: every
// day), or a constant delay (@every) counted from the creation.
type wallRule struct {
	zone       string
	secs, mins []int
	hours      []int
	days       []time.Weekday
	every      time.Duration
}

func seq(from, to, step int) []int {
	var out []int
	for i := from; i <= to; i += step {
		out = append(out, i)
	}
	return out
}

// oracleFires lists the fires of a scenario campaign created at createdAt,
// strictly before end: a "now" fires at the creation, an "at" at its
// instant, a cron at its rule's instants strictly after the creation, at or
// after its start and strictly before its end.
func oracleFires(s campaign.Schedule, createdAt, end time.Time) ([]time.Time, error) {
	var out []time.Time
	switch {
	case s.Now:
		out = []time.Time{createdAt.UTC()}
	case s.At != nil:
		out = []time.Time{s.At.UTC()}
	default:
		var rule *wallRule
		for i := range cronKinds {
			if k := cronKinds[i]; k.spec == s.Cron && k.tz == s.Timezone {
				rule = &cronKinds[i].rule
			}
		}
		if rule == nil {
			return nil, fmt.Errorf("oracle: no wall rule for cron %q in %q", s.Cron, s.Timezone)
		}
		from, until := createdAt, end
		if s.End != nil && s.End.Before(until) {
			until = *s.End
		}
		startIncl := s.Start != nil && s.Start.After(createdAt)
		if startIncl {
			from = *s.Start
		}
		keep := func(t time.Time) bool {
			if startIncl {
				return !t.Before(from) && t.Before(until)
			}
			return t.After(from) && t.Before(until)
		}
		if rule.every > 0 {
			if s.Start != nil {
				return nil, fmt.Errorf("oracle: @every with a start is not spelled out")
			}
			for t := createdAt.Add(rule.every); t.Before(until); t = t.Add(rule.every) {
				out = append(out, t.UTC())
			}
			break
		}
		loc, err := time.LoadLocation(rule.zone)
		if err != nil {
			return nil, err
		}
		seen := map[time.Time]bool{}
		// Every wall-clock time of the rule on the local dates around
		// [from, until); each maps to at most one instant.
		lo, hi := from.In(loc).AddDate(0, 0, -2), until.In(loc).AddDate(0, 0, 2)
		for d := time.Date(lo.Year(), lo.Month(), lo.Day(), 0, 0, 0, 0, time.UTC); d.Before(time.Date(hi.Year(), hi.Month(), hi.Day(), 0, 0, 0, 0, time.UTC)); d = d.AddDate(0, 0, 1) {
			if rule.days != nil && !containsDay(rule.days, d.Weekday()) {
				continue
			}
			for _, h := range rule.hours {
				for _, m := range rule.mins {
					for _, sec := range rule.secs {
						w := d.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second)
						// Only walls that can land within [from, until) (offsets are within ±15 h).
						if w.Before(from.Add(-15*time.Hour)) || w.After(until.Add(15*time.Hour)) {
							continue
						}
						at := firstInstantAtOrPast(w, loc)
						if keep(at) && !seen[at] {
							seen[at] = true
							out = append(out, at.UTC())
						}
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	var in []time.Time
	for _, t := range out {
		if !t.Before(createdAt) && t.Before(end) {
			in = append(in, t)
		}
	}
	return in, nil
}

func containsDay(days []time.Weekday, d time.Weekday) bool {
	for _, x := range days {
		if x == d {
			return true
		}
	}
	return false
}

// naiveWall is t's wall clock in loc, written as a UTC time.
func naiveWall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
}

// firstInstantAtOrPast is the earliest instant whose wall clock in loc is
// at or past the wall-clock time w (written as UTC). The earliest such
// instant is either one where the wall clock reads w exactly (w minus one
// of the zone's offsets) or a zone transition where it jumps over w; the
// candidates are those, found by stepping through the 30 hours around w.
func firstInstantAtOrPast(w time.Time, loc *time.Location) time.Time {
	var cands []time.Time
	lo := w.Add(-15 * time.Hour)
	_, prevOff := lo.In(loc).Zone()
	offs := map[int]bool{prevOff: true}
	for t := lo; !t.After(w.Add(15 * time.Hour)); t = t.Add(30 * time.Minute) {
		_, off := t.In(loc).Zone()
		offs[off] = true
		if off != prevOff { // a transition in (t-30m, t]: find its second
			a, b := t.Add(-30*time.Minute), t
			for b.Sub(a) > time.Second {
				mid := a.Add(b.Sub(a) / 2).Truncate(time.Second)
				if _, o := mid.In(loc).Zone(); o == prevOff {
					a = mid
				} else {
					b = mid
				}
			}
			cands = append(cands, b)
			prevOff = off
		}
	}
	for off := range offs {
		cands = append(cands, w.Add(-time.Duration(off)*time.Second))
	}
	var best time.Time
	for _, c := range cands {
		if !naiveWall(c, loc).Before(w) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	return best
}
