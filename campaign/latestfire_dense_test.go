package campaign

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestLatestFireDenseCronAfterALongGap guards LatestFire's promise that "a
// long downtime of a dense cron costs a few dozen calculations, not one per
// missed occurrence". Its doubling probe only found some fire in
// (now-back, now] and then walked fire by fire from there. For a dense cron
// followed by a long silence (every second on days 1-15; downtime from
// Feb 1 to Feb 28 12:00) the probe landed on Feb 4 and the walk to the last
// fire (Feb 15 23:59:59) was over a million steps: LatestFire gave up with
// an error, the scheduler's plan refused the campaign on every tick until
// its next fire (Mar 1), and the `missed: once` fire was never delivered.
// (A weekend of "* * 9-17 * * MON-FRI" walked 32,400 steps, ~0.2 s inside
// the claim transaction.)
func TestLatestFireDenseCronAfterALongGap(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		s        Schedule
		due, now time.Time
		want     time.Time
	}{
		{"days 1-15, a month", Schedule{Cron: "* * * 1-15 * *"}, utc("2026-02-01T00:00:00Z"), utc("2026-02-28T12:00:00Z"),
			utc("2026-02-15T23:59:59Z")},
		// The probe passes due before it finds a fire: the search starts
		// from due.
		{"days 1-15, from the last fire's day", Schedule{Cron: "* * * 1-15 * *"}, utc("2026-02-15T00:00:00Z"), utc("2026-02-28T12:00:00Z"),
			utc("2026-02-15T23:59:59Z")},
		{"office hours, a weekend", Schedule{Cron: "* * 9-17 * * MON-FRI", Timezone: "Europe/Berlin"}, utc("2026-03-06T11:00:00Z"),
			utc("2026-03-09T07:00:00Z"), utc("2026-03-06T16:59:59Z")},
	} {
		got, err := tt.s.LatestFire(tt.due, tt.now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("%s: LatestFire = %s, %v; want %s (the last fire before now)", tt.name, got, err, tt.want)
		}
	}
}

// TestLatestFireMatchesAWalk: LatestFire probes and halves instead of
// walking, and must give exactly what walking NextAfter fire by fire from
// due gives: across daylight saving changes (skipped, repeated and midnight
// ones), start and end windows, @every grids and dense crons. Each case
// walks a few hundred fires from due, then asks for the latest at a random
// now between two of them (or after the last), often in the longest
// silence the walk met: a burst of per-second fires, then a day's quiet.
func TestLatestFireMatchesAWalk(t *testing.T) {
	t.Parallel()
	const walk = 300
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Amman", "America/Santiago", "America/Havana",
		"Australia/Lord_Howe", "Antarctica/Vostok", "Asia/Kolkata"}
	crons := []string{
		// Dense, some going quiet for minutes, hours or days.
		"* * * * * *", "*/7 * * * * *", "* * * 1-15 * *", "* * 9-17 * * MON-FRI", "* 0-4 * * * *", "* 0 0 * * *",
		"* 0-2 0 * * *", "* 59 23 * * *", "0-29 30 1 * * *", "* 0 2 * * *", "*/10 * 0-1 * * *",
		// Sparse.
		"* 0 * * *", "*/5 0-2 * * *", "0 * * * *", "30 1 * * *", "0,30 0-2 * * *", "0 30 2 * * *", "0 0 * * *",
		"15 */3 * * *", "0 9 * * MON", "0 0 29 2 *",
		// Durations.
		"@hourly", "@every 90m", "@every 7s", "@every 1h",
	}
	rng := rand.New(rand.NewPCG(20260228, 1))
	// Bases near daylight saving changes, where fires skip and repeat.
	var changes []time.Time
	for _, day := range []string{"2021-10-29", "2021-03-25", "2026-03-08", "2026-11-01", "2026-03-29", "2026-10-25",
		"2026-04-05", "2026-09-06", "2026-10-04", "2023-12-17"} {
		changes = append(changes, utc(day+"T00:00:00Z"))
	}
	within := func(d time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(d))) }
	checked, quiet := 0, 0
	for range 600 {
		s := Schedule{Cron: crons[rng.IntN(len(crons))], Timezone: zones[rng.IntN(len(zones))]}
		base := changes[rng.IntN(len(changes))].Add(within(72*time.Hour) - 36*time.Hour)
		if rng.IntN(3) == 0 {
			st := base.Add(within(6*time.Hour) - time.Hour)
			if rng.IntN(2) == 0 {
				st = st.Truncate(time.Second)
			}
			s.Start = &st
		}
		if rng.IntN(4) == 0 {
			end := base.Add(within(48 * time.Hour))
			s.End = &end
		}
		due, ok, err := s.NextAfter(base)
		if err != nil {
			t.Fatalf("%+v: NextAfter(%s): %v", s, base, err)
		}
		if !ok {
			continue
		}
		fires := walkFires(t, s, due, walk) // fires[i+1] is the first after fires[i]; a zero one: none
		// now in [fires[i], fires[i+1]): the latest fire is fires[i].
		i := rng.IntN(len(fires) - 1)
		if rng.IntN(2) == 0 {
			i = longestGap(fires)
		}
		var now time.Time
		switch gap := fires[i+1].Sub(fires[i]); {
		case rng.IntN(20) == 0:
			now, i = due.Add(-within(time.Hour)), 0 // claimed ahead: due itself
		case fires[i+1].IsZero():
			now = fires[i].Add(within(30 * 24 * time.Hour)) // after the last fire, or the end
		default:
			now = fires[i].Add(within(gap))
		}
		if gap := fires[i+1].Sub(fires[i]); fires[i+1].IsZero() || gap >= time.Hour {
			quiet++
		}
		checked++
		got, err := s.LatestFire(due, now)
		if err != nil || !got.Equal(fires[i]) {
			t.Errorf("%q in %s (start %v, end %v): LatestFire(%s, %s) = %s, %v; walking from due gives %s", s.Cron, s.Timezone,
				s.Start, s.End, due.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano), got, err, fires[i])
		}
	}
	if checked < 500 || quiet < 200 {
		t.Errorf("only %d cases checked, %d of them in an hour's quiet or more", checked, quiet)
	}
	t.Logf("%d cases checked, %d of them in an hour's quiet or more", checked, quiet)
}

// walkFires is due and the fires NextAfter walks to from it, up to n of
// them, then the next one (zero when there is none).
func walkFires(t *testing.T, s Schedule, due time.Time, n int) []time.Time {
	t.Helper()
	fires := []time.Time{due}
	for len(fires) <= n {
		next, ok, err := s.NextAfter(fires[len(fires)-1])
		if err != nil {
			t.Fatalf("%+v: NextAfter(%s): %v", s, fires[len(fires)-1], err)
		}
		if !ok {
			return append(fires, time.Time{})
		}
		fires = append(fires, next)
	}
	return fires
}

// longestGap is the i for which fires[i+1] - fires[i] is the longest (a
// zero fires[i+1], no fire after fires[i], is longest of all).
func longestGap(fires []time.Time) int {
	best := 0
	for i := range len(fires) - 1 {
		if fires[i+1].IsZero() {
			return i
		}
		if fires[i+1].Sub(fires[i]) > fires[best+1].Sub(fires[best]) {
			best = i
		}
	}
	return best
}
