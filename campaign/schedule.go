package campaign

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser accepts 5 fields, an optional leading seconds field,
// descriptors (@daily, @every 1h) and a CRON_TZ= or TZ= prefix.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a cron spec and resolves its time zone: a CRON_TZ=/TZ=
// prefix wins, then timezone, then UTC. robfig/cron panics on some malformed
// specs; the panic is turned into an error.
func ParseCron(spec, timezone string) (sched cron.Schedule, loc *time.Location, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, loc, err = nil, nil, fmt.Errorf("invalid cron spec %q: %v", spec, r)
		}
	}()
	loc = time.UTC
	if timezone != "" {
		if loc, err = time.LoadLocation(timezone); err != nil {
			return nil, nil, fmt.Errorf("unknown time zone %q", timezone)
		}
	}
	if z, ok := cronTZ(spec); ok {
		if loc, err = time.LoadLocation(z); err != nil {
			return nil, nil, fmt.Errorf("unknown time zone %q in the spec", z)
		}
	}
	if sched, err = cronParser.Parse(spec); err != nil {
		return nil, nil, fmt.Errorf("invalid cron spec %q: %w", spec, err)
	}
	return sched, loc, nil
}

// cronTZ returns the zone of a CRON_TZ= or TZ= prefix.
func cronTZ(spec string) (string, bool) {
	spec = strings.TrimSpace(spec)
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if strings.HasPrefix(spec, p) {
			z, _, _ := strings.Cut(spec[len(p):], " ")
			return z, true
		}
	}
	return "", false
}

// Location is the zone the schedule's local times (cron fields and
// templates' .FireTime) are in.
func (s Schedule) Location() (*time.Location, error) {
	if s.Cron != "" {
		_, loc, err := ParseCron(s.Cron, s.Timezone)
		return loc, err
	}
	if s.Timezone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", s.Timezone)
	}
	return loc, nil
}

// FirstFire is the first fire time of a schedule created at now; ok is false
// when it will never fire.
func (s Schedule) FirstFire(now time.Time) (t time.Time, ok bool, err error) {
	switch s.Kind() {
	case "now":
		return now.UTC(), true, nil
	case "at":
		return s.At.UTC(), true, nil
	}
	from := now
	if s.Start != nil && s.Start.After(from) {
		from = s.Start.Add(-time.Nanosecond)
	}
	return s.NextAfter(from)
}

// NextAfter is the first fire strictly after t (UTC); ok is false when the
// schedule is exhausted. It is a plain calculator: the scheduler owns the
// policy (DST, missed fires) built on top of it.
func (s Schedule) NextAfter(t time.Time) (next time.Time, ok bool, err error) {
	switch s.Kind() {
	case "now":
		return time.Time{}, false, nil
	case "at":
		if s.At.After(t) {
			return s.At.UTC(), true, nil
		}
		return time.Time{}, false, nil
	}
	sched, loc, err := ParseCron(s.Cron, s.Timezone)
	if err != nil {
		return time.Time{}, false, err
	}
	if s.Start != nil && t.Before(*s.Start) {
		t = s.Start.Add(-time.Nanosecond)
	}
	next = sched.Next(t.In(loc))
	if next.IsZero() || (s.End != nil && !next.Before(*s.End)) {
		return time.Time{}, false, nil
	}
	return next.UTC(), true, nil
}

// FirePlan is what the scheduler decides for one due campaign inside
// Store.ClaimDue.
type FirePlan struct {
	// Fire creates a Run for ScheduledFor; false skips this fire.
	Fire         bool
	ScheduledFor time.Time
	// Next is the new next_run_at; nil marks the campaign done.
	Next *time.Time
}

// PlanFunc decides the fire of a due campaign at now. It keeps schedule
// policy out of the store.
type PlanFunc func(c Campaign, now time.Time) (FirePlan, error)

// errNoNextRun is returned by SimplePlan for a campaign without next_run_at.
var errNoNextRun = errors.New("campaign has no next_run_at")

// SimplePlan returns a PlanFunc that fires a due campaign at its next_run_at
// when that is at most grace old; an older fire was missed and follows the
// campaign's policy: skip drops every missed fire (firing only an occurrence
// still within grace), once fires the latest missed occurrence once. Either
// way next_run_at moves past now, so missed fires never come in a burst. The
// scheduler may use it or bring its own.
func SimplePlan(grace time.Duration) PlanFunc {
	return func(c Campaign, now time.Time) (FirePlan, error) {
		if c.NextRunAt == nil {
			return FirePlan{}, errNoNextRun
		}
		due := c.NextRunAt.UTC()
		latest := due
		for i := 0; i < 100000; i++ { // bounded: an @every 1s campaign down for a day
			n, ok, err := c.Schedule.NextAfter(latest)
			if err != nil {
				return FirePlan{}, err
			}
			if !ok || n.After(now) {
				break
			}
			latest = n
		}
		plan := FirePlan{ScheduledFor: latest}
		switch {
		case now.Sub(latest) <= grace:
			plan.Fire = true
		case c.Schedule.Missed == MissedOnce:
			plan.Fire = true
		}
		next, ok, err := c.Schedule.NextAfter(latest)
		if err != nil {
			return FirePlan{}, err
		}
		if ok {
			plan.Next = &next
		}
		return plan, nil
	}
}
