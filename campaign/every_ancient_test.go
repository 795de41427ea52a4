package campaign

import (
	"testing"
	"time"
)

// An @every schedule whose start is more than ~292 years back (the range of
// a time.Duration) keeps to its grid: the next fire is the grid's next point
// after t, and LatestFire its latest one before. Counted in Durations,
// t.Sub saturated and the "next" fire came out centuries before t, off the
// grid: the scheduler fired one run dated year 0000, then refused the
// campaign on every tick.
func TestEveryFromAnAncientStartKeepsToItsGrid(t *testing.T) {
	t.Parallel()
	start := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Schedule{Cron: "@every 1h", Start: &start}
	next, ok, err := s.NextAfter(clockNow)
	if err == nil && ok {
		if !next.After(clockNow) {
			t.Errorf("NextAfter(%s) = %s: not after t (Schedule.NextAfter promises the first fire strictly after t)", clockNow, next)
		}
		if next.Sub(clockNow) > time.Hour || !next.Truncate(time.Hour).Equal(next) {
			t.Errorf("NextAfter(%s) = %s: not the next point of the hourly grid from %s", clockNow, next, start)
		}
	}

	if next, ok, err := s.NextAfter(clockNow); err != nil || !ok {
		t.Errorf("NextAfter(%s) = %s, %v, %v; want the next hour", clockNow, next, ok, err)
	}
	due := start
	if latest, err := s.LatestFire(due, clockNow); err != nil || latest.After(clockNow) || clockNow.Sub(latest) >= time.Hour || !latest.Truncate(time.Hour).Equal(latest) {
		t.Errorf("LatestFire(%s, %s) = %s, %v; want the latest hour at or before now", due, clockNow, latest, err)
	}

	c, err := ParseFile(scheduleFile("{cron: '@every 1h', start: '0001-01-01T00:00:00Z'}"), testOpts)
	if err != nil {
		return // refused: fine
	}
	if c.NextRunAt == nil || !c.NextRunAt.After(clockNow) || c.NextRunAt.Sub(clockNow) > time.Hour {
		t.Errorf("ParseFile accepted @every 1h from 0001-01-01 with next_run_at %v; want the next hour after %s", c.NextRunAt, clockNow)
	}
}
