package quota

import (
	"testing"
)

// The service does not publish the time zone of its calendar day, so an
// operator who learns it changes the app's quota.timezone (or switches the
// day to rolling) and restarts the workers: Redis keeps the windows. Every
// reservation trims entries below the *current policy's* windows, and a
// rebuild reads the ledger only that far back, so sends the new policy
// still counts are gone from Redis, and the guard grants a 4th push in the
// service's day.
func TestQuotaPolicyChangeKeepsSendsTheNewWindowsCount(t *testing.T) {
	t.Parallel()
	shanghai := Policy{Hourly: 2, Daily: 3, HourWindow: HourRolling, DayWindow: DayCalendar, Timezone: "Asia/Shanghai"}
	// 20:00 and 21:00 Shanghai on 1 June are 12:00 and 13:00 UTC.
	b := setup(t, map[string]Policy{"main": shanghai}, NoMargin, at(t, "2026-06-01T20:00:00+08:00"))
	b.mustReserve(t, "main")
	b.clock.Set(at(t, "2026-06-01T21:00:00+08:00"))
	b.mustReserve(t, "main")
	// 00:30 Shanghai on 2 June (16:30 UTC on 1 June): a new Shanghai day,
	// the third push of the UTC day 1 June.
	b.clock.Set(at(t, "2026-06-02T00:30:00+08:00"))
	b.mustReserve(t, "main")

	// The operator learns the service's day is UTC's and restarts with it.
	utc := shanghai
	utc.Timezone = "UTC"
	opts := b.opts
	opts.Apps = map[string]Policy{"main": utc}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Set(at(t, "2026-06-02T01:45:00+08:00")) // 17:45 UTC, 1 June
	b.guard = g
	res, nr := b.reserve(t, "main")
	if nr == nil {
		t.Fatalf("after the time zone changed to UTC, Reserve granted a 4th push in the UTC day 2026-06-01 (%d of %d used by the guard's count); want no room until 2026-06-02T00:00Z",
			res.DayUsed, res.DayLimit)
	}
}

// The same with a rebuild: the windows are rebuilt from the ledger (Redis
// flushed) under the old policy, then the policy changes.
func TestQuotaRebuildReadsWhatAnyPolicysWindowsCount(t *testing.T) {
	t.Parallel()
	shanghai := Policy{Hourly: 2, Daily: 3, HourWindow: HourRolling, DayWindow: DayCalendar, Timezone: "Asia/Shanghai"}
	b := setup(t, map[string]Policy{"main": shanghai}, NoMargin, at(t, "2026-06-02T00:30:00+08:00"))
	// The ledger: two pushes on the evening of 1 June, Shanghai.
	b.ledger.add("main", at(t, "2026-06-01T20:00:00+08:00"), at(t, "2026-06-01T21:00:00+08:00"))
	b.mustReserve(t, "main") // rebuilds (empty Redis), then reserves: 3rd of the UTC day
	b.ledger.add("main", b.clock.Now())

	rolling := shanghai
	rolling.DayWindow = DayRolling
	opts := b.opts
	opts.Apps = map[string]Policy{"main": rolling}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.guard = g
	b.clock.Set(at(t, "2026-06-02T01:45:00+08:00"))
	res, nr := b.reserve(t, "main")
	if nr == nil {
		t.Fatalf("after the day window changed to rolling, Reserve granted a 4th push within 24 hours (guard counted %d of %d)", res.DayUsed, res.DayLimit)
	}
}
