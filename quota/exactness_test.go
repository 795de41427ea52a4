package quota

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// oracle decides, by brute force over a list of send instants, what the
// guard decides with Redis and Lua; the tests compare the two.
type oracle struct {
	p      Policy
	loc    *time.Location
	margin time.Duration
}

// hourStart is the start of t's local clock hour, from the zone offset.
func (o oracle) hourStart(t time.Time) time.Time {
	_, off := t.In(o.loc).Zone()
	local := t.Unix() + int64(off)
	return time.Unix(local-local%3600-int64(off), 0)
}

func (o oracle) dayStart(t time.Time) time.Time {
	y, m, d := t.In(o.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, o.loc)
}

func countSince(sends []time.Time, from time.Time, exclusive bool) int {
	n := 0
	for _, s := range sends {
		if s.After(from) || (!exclusive && s.Equal(from)) {
			n++
		}
	}
	return n
}

func (o oracle) feasible(sends []time.Time, t time.Time) bool {
	var hour, day int
	if o.p.HourWindow == HourClock {
		hour = countSince(sends, o.hourStart(t).Add(-o.margin), false)
	} else {
		hour = countSince(sends, t.Add(-time.Hour-o.margin), true)
	}
	if o.p.DayWindow == DayCalendar {
		day = countSince(sends, o.dayStart(t).Add(-o.margin), false)
	} else {
		day = countSince(sends, t.Add(-24*time.Hour-o.margin), true)
	}
	return hour < o.p.Hourly && day < o.p.Daily
}

// earliest is the first instant at or after t at which a send is allowed:
// feasibility only changes when a send leaves a rolling window or a fixed
// window starts afresh, so those instants are the only candidates.
func (o oracle) earliest(sends []time.Time, t time.Time) time.Time {
	cands := []time.Time{t}
	for _, s := range sends {
		cands = append(cands, s.Add(time.Hour+o.margin), s.Add(24*time.Hour+o.margin))
	}
	for h := o.hourStart(t); h.Before(t.Add(50 * time.Hour)); h = h.Add(time.Hour) {
		cands = append(cands, h)
	}
	y, m, d := t.In(o.loc).Date()
	for i := 0; i <= 3; i++ {
		cands = append(cands, time.Date(y, m, d+i, 0, 0, 0, 0, o.loc))
	}
	slices.SortFunc(cands, func(a, b time.Time) int { return a.Compare(b) })
	for _, c := range cands {
		if !c.Before(t) && o.feasible(sends, c) {
			return c
		}
	}
	panic("oracle: no feasible instant within the horizon")
}

// greedy is the schedule that sends whenever allowed, with endless demand.
func (o oracle) greedy(start, end time.Time) []time.Time {
	var sends []time.Time
	for t := start; ; {
		t = o.earliest(sends, t)
		if !t.Before(end) {
			return sends
		}
		sends = append(sends, t)
	}
}

// checkServiceLimits verifies the schedule against the service's own
// counting (no margin): no rolling hour/day and no clock hour/calendar day
// ever holds more than the limit.
func checkServiceLimits(t *testing.T, p Policy, loc *time.Location, sends []time.Time) {
	t.Helper()
	o := oracle{p: p, loc: loc}
	for i, s := range sends {
		in := sends[:i+1] // the sends up to and including s
		var hour, day int
		if p.HourWindow == HourClock {
			hour = countSince(in, o.hourStart(s), false)
		} else {
			hour = countSince(in, s.Add(-time.Hour), true)
		}
		if p.DayWindow == DayCalendar {
			day = countSince(in, o.dayStart(s), false)
		} else {
			day = countSince(in, s.Add(-24*time.Hour), true)
		}
		if hour > p.Hourly || day > p.Daily {
			t.Errorf("send %d at %s: %d in its hour window (limit %d), %d in its day window (limit %d)",
				i, s.In(loc).Format(time.RFC3339), hour, p.Hourly, day, p.Daily)
		}
	}
}

// TestExactness drives the guard with endless demand across 48 simulated
// hours in every window mode combination, jumping the clock to each answered
// opening: the guard must never exceed a limit, and must send exactly the
// greedy schedule (every slot used as soon as it opens, none skipped).
func TestExactness(t *testing.T) {
	t.Parallel()
	type limits struct{ hourly, daily int }
	zones := []struct {
		tz    string
		start string // local midnight; New York's includes the fall-back day
	}{
		{"Asia/Shanghai", "2026-06-01T00:00:00+08:00"},
		{"America/New_York", "2026-10-31T00:00:00-04:00"},
	}
	for _, hw := range []HourWindow{HourRolling, HourClock} {
		for _, dw := range []DayWindow{DayCalendar, DayRolling} {
			for _, lim := range []limits{{2, 3}, {3, 20}} {
				for _, z := range zones {
					for _, margin := range []time.Duration{NoMargin, 10 * time.Second} {
						name := fmt.Sprintf("%s_%s_%d-%d_%s_margin%s", hw, dw, lim.hourly, lim.daily, z.tz, max(margin, 0))
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							p := Policy{Hourly: lim.hourly, Daily: lim.daily, HourWindow: hw, DayWindow: dw, Timezone: z.tz}
							start, err := time.Parse(time.RFC3339, z.start)
							if err != nil {
								t.Fatal(err)
							}
							runExactness(t, p, margin, start)
						})
					}
				}
			}
		}
	}
}

func runExactness(t *testing.T, p Policy, margin time.Duration, start time.Time) {
	const app = "main"
	loc := mustLoad(t, p.Timezone)
	b := setup(t, map[string]Policy{app: p}, margin, start)
	o := oracle{p: p, loc: loc, margin: max(margin, 0)}
	end := start.Add(48 * time.Hour)

	var got []time.Time
	now := start
	for steps := 0; now.Before(end); steps++ {
		if steps > 10000 {
			t.Fatal("no progress after 10000 steps")
		}
		b.clock.Set(now)
		res, nr := b.reserve(t, app)
		if nr == nil {
			if !res.At.Equal(now) {
				t.Fatalf("reservation at %s, clock at %s", res.At, now)
			}
			got = append(got, now)
			continue
		}
		want := o.earliest(got, now)
		if !nr.OpensAt.After(now) {
			t.Fatalf("at %s: no room, but opens at %s (not later)", now.In(loc), nr.OpensAt.In(loc))
		}
		if nr.OpensAt.After(want) {
			t.Fatalf("at %s: opens at %s, but a send is allowed at %s (a slot would be skipped)", now.In(loc), nr.OpensAt.In(loc), want.In(loc))
		}
		if margin == NoMargin && !nr.OpensAt.Equal(want) {
			t.Fatalf("at %s: opens at %s, want %s", now.In(loc), nr.OpensAt.In(loc), want.In(loc))
		}
		now = nr.OpensAt
	}

	checkServiceLimits(t, p, loc, got)
	if diff := cmp.Diff(o.greedy(start, end), got); diff != "" {
		t.Errorf("schedule differs from the greedy one (-want +got):\n%s", diff)
	}
	if p.DayWindow == DayCalendar && p.Hourly*20 >= p.Daily {
		// Both local days of the run are whole: each must be used to its limit.
		perDay := map[string]int{}
		for _, s := range got {
			perDay[s.In(loc).Format(time.DateOnly)]++
		}
		for day, n := range perDay {
			if n != p.Daily {
				t.Errorf("%s: %d sends, want the daily limit %d", day, n, p.Daily)
			}
		}
		if len(perDay) != 2 {
			t.Errorf("sends on %d local days, want 2: %v", len(perDay), perDay)
		}
	}
	if len(got) < p.Daily*2 {
		t.Errorf("%d sends in 48 hours, want at least %d", len(got), p.Daily*2)
	}
}
