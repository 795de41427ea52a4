package quota

import (
	"context"
	"testing"
	"time"
)

// In Antarctica/Troll clocks fall back two hours (03:00 +02 to 01:00 +00)
// every October, so that calendar day lasts 26 hours; with the default
// 10 s margin its window counts from 10 s before its midnight, 26h10s
// back at its end. The guard keeps (and a rebuild reads) only
// max(26h, 25h+margin) = 26h (longestDay was 25h): in the day's last
// seconds the reservation made within the margin before midnight was
// trimmed while the day still counted it, and a fourth send was granted in
// a day of three.
func TestTrollDayOf26HoursKeepsItsMarginSend(t *testing.T) {
	t.Parallel()
	troll := mustLoad(t, "Antarctica/Troll")
	start := time.Date(2026, 10, 25, 0, 0, 0, 0, troll) // 2026-10-24T22:00Z
	next := time.Date(2026, 10, 26, 0, 0, 0, 0, troll)  // 2026-10-26T00:00Z
	if d := next.Sub(start); d != 26*time.Hour {
		t.Fatalf("tzdata: the day is %s, want 26h", d)
	}
	p := Policy{Hourly: 10, Daily: 3, HourWindow: HourRolling, DayWindow: DayCalendar, Timezone: "Antarctica/Troll"}
	b := setup(t, map[string]Policy{"main": p}, 0 /* DefaultMargin */, start.Add(-5*time.Second))
	b.mustReserve(t, "main") // its push may reach the service after midnight: counts in the 25th too
	b.clock.Set(start.Add(time.Hour))
	b.mustReserve(t, "main")
	b.clock.Set(start.Add(2 * time.Hour))
	b.mustReserve(t, "main")
	b.clock.Set(start.Add(3 * time.Hour))
	if nr := b.mustBeFull(t, "main"); nr.By != ConstraintDay {
		t.Fatalf("three in the day: no room by %s, want day", nr.By)
	}
	b.clock.Set(next.Add(-3 * time.Second)) // still the 25th
	if res, nr := b.reserve(t, "main"); nr == nil {
		t.Errorf("at %s (the 26-hour day's last seconds) a fourth slot was granted (day used %d): the margin send was trimmed",
			b.clock.Now().In(troll).Format(time.RFC3339), res.DayUsed)
	}
}

// A block's end is kept in whole milliseconds rounded up, as slot scores
// are: rounded down (until.UnixMilli()), a block until 13:00:00.000600 let
// a reservation through at 13:00:00.000300 (reserve.lua's now is whole
// milliseconds too), and NoRoomError/Status named 13:00:00.000 as its end.
func TestBlockNeverEndsBeforeItsInstant(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 600_000, time.UTC) // 12:00:00.000600
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3}}, NoMargin, t0)
	ctx := context.Background()
	until, err := b.guard.HoldFor(ctx, "main", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Set(t0.Add(30 * time.Minute))
	if nr := b.mustBeFull(t, "main"); nr.OpensAt.Before(until) {
		t.Errorf("blocked until %s, but no room only until %s", until.Format(time.RFC3339Nano), nr.OpensAt.Format(time.RFC3339Nano))
	}
	b.clock.Set(until.Add(-300 * time.Microsecond))
	if res, nr := b.reserve(t, "main"); nr == nil {
		t.Errorf("reserved at %s, before the block's end %s", res.At.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
	}
}

// calendar.LoadZone refuses "localtime" and "posixrules" (files of the
// system zoneinfo that link to the host's own zone) however spelled: it
// matched the exact names only, and time.LoadLocation loads "./localtime":
// a quota policy then counted its hours and days in each host's own zone,
// and workers on differently set hosts would count different days.
func TestPolicyRefusesTheHostZoneHoweverSpelled(t *testing.T) {
	t.Parallel()
	for _, z := range []string{"./localtime", "./posixrules"} {
		if err := (Policy{Hourly: 2, Daily: 3, Timezone: z}).Validate("quota"); err == nil {
			t.Errorf("time zone %q (the host's own setting) accepted", z)
		}
	}
}

// BlockRateLimited and HoldFor return the end of the block in force, as
// they document, not the end they asked for: with a longer block in force
// (a 5xx's Retry-After of 3 h, then a 429) BlockRateLimited answered 1 h,
// and the worker snoozed the run to that instant (worker/handler.go) only
// to find the app still blocked.
func TestBlockRateLimitedReturnsTheBlockInForce(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3}}, NoMargin, now)
	ctx := context.Background()
	held, err := b.guard.HoldFor(ctx, "main", 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	until, err := b.guard.BlockRateLimited(ctx, "main", 0)
	if err != nil {
		t.Fatal(err)
	}
	if nr := b.mustBeFull(t, "main"); !nr.OpensAt.Equal(held) {
		t.Fatalf("no room until %s, want the 3 h hold's end %s", nr.OpensAt, held)
	}
	if !until.Equal(held) {
		t.Errorf("BlockRateLimited returned %s as the block's end; the block in force ends %s", until.Format(time.RFC3339), held.Format(time.RFC3339))
	}
}
