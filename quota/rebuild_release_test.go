package quota

import (
	"context"
	"testing"
	"time"
)

// While a push is on the wire, Redis loses the app's state and another
// worker's Reserve rebuilds the windows from the ledger, counting the send in
// flight under a name of its own. The service then refuses the push without
// sending it: the release frees that entry, not just the reservation's id
// (which is gone), else the window stays full of a push never made.
func TestReleaseAfterARebuildFreesTheRebuiltEntry(t *testing.T) {
	ctx := context.Background()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 1, Daily: 3}}, NoMargin, now)

	inFlight := b.mustReserve(t, "main")
	b.ledger.add("main", inFlight.At) // claimed: SentBetween lists the send in flight

	b.redis.Flush(t)
	b.clock.Advance(time.Minute)
	b.mustBeFull(t, "main") // rebuilt: the push in flight holds the hour's slot (right)

	// The service refuses the push without sending it: the worker releases
	// the reservation and the store records the send failed, out of the
	// ledger.
	b.ledger.mu.Lock()
	b.ledger.sent = nil
	b.ledger.mu.Unlock()
	if err := b.guard.Release(ctx, inFlight); err != nil {
		t.Fatal(err)
	}

	b.clock.Advance(time.Minute)
	if _, nr := b.reserve(t, "main"); nr != nil {
		t.Fatalf("after the refused push was released, no room (%s, %d used this hour) until %s: the released slot is still counted",
			nr.By, nr.HourUsed, nr.OpensAt.Format(time.RFC3339))
	}
}

// In America/Santiago daylight saving begins at midnight (2026-09-06: 24:00
// -04 becomes 01:00 -03). In the day's last hour before it, a full day
// opens at the next day's first instant, after now, and NextBoundary (the
// end of a block after a 429) is after now too: before, both were an hour
// in the past, and the worker spun on a window that "had opened".
func TestCalendarDayWhereMidnightIsSkipped(t *testing.T) {
	santiago := mustLoad(t, "America/Santiago")
	p := Policy{Hourly: 5, Daily: 1, Timezone: "America/Santiago"}
	now := time.Date(2026, 9, 5, 23, 30, 0, 0, santiago) // 03:30 UTC, the day's last hour
	if got, want := now.UTC(), time.Date(2026, 9, 6, 3, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("setup: %s, want %s", got, want)
	}
	b := setup(t, map[string]Policy{"main": p}, NoMargin, now.Add(-time.Hour))
	b.mustReserve(t, "main") // the day's only slot, at 22:30
	b.clock.Set(now)
	nr := b.mustBeFull(t, "main")
	if !nr.OpensAt.After(now) {
		t.Errorf("day full at %s: opens at %s, not after now", now, nr.OpensAt.In(santiago))
	}
	if nb, err := p.NextBoundary(now); err != nil || !nb.After(now) {
		t.Errorf("NextBoundary(%s) = %s (%v), want an instant after now", now, nb.In(santiago), err)
	}
}

// A release after a rebuild frees only the entry of its own attempt: a
// reservation never claimed (so not in the ledger) frees nothing, and
// releasing twice frees once.
func TestReleaseAfterARebuildFreesOnlyItsOwnAttempt(t *testing.T) {
	ctx := context.Background()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 3, Daily: 3}}, NoMargin, now)

	unclaimed := b.mustReserve(t, "main") // never claimed: not in the ledger
	b.clock.Advance(time.Minute)
	claimed := b.mustReserve(t, "main")
	b.ledger.add("main", claimed.At)

	b.redis.Flush(t)
	b.clock.Advance(time.Minute)
	b.mustReserve(t, "main") // rebuilds: the claimed attempt, and this one
	if got := len(b.entryScores(t, "main")); got != 2 {
		t.Fatalf("after the rebuild %d entries, want 2", got)
	}
	if err := b.guard.Release(ctx, unclaimed); err != nil {
		t.Fatal(err)
	}
	if got := len(b.entryScores(t, "main")); got != 2 {
		t.Errorf("releasing a reservation the rebuild never saw: %d entries, want 2 (nothing of another attempt freed)", got)
	}
	for range 2 {
		if err := b.guard.Release(ctx, claimed); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(b.entryScores(t, "main")); got != 1 {
		t.Errorf("releasing the claimed attempt twice: %d entries, want 1", got)
	}
}

// Redis restarted from an older RDB snapshot (its default persistence), or
// a fail-over to a replica that missed the last writes, brings the marker
// back with older windows. The marker holds the Redis server's run_id, new
// at every start and different on every server, so the guard sees another
// incarnation and rebuilds from the ledger instead of granting a slot the
// service counts as used.
func TestRestartFromAnOlderSnapshotRebuilds(t *testing.T) {
	ctx := context.Background()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3}}, NoMargin, now)

	first := b.mustReserve(t, "main")
	b.ledger.add("main", first.At)
	if err := b.client.Save(ctx).Err(); err != nil {
		t.Fatalf("SAVE: %v", err)
	}
	b.clock.Advance(10 * time.Minute)
	second := b.mustReserve(t, "main")
	b.ledger.add("main", second.At)

	b.redis.Restart(t) // loads dump.rdb: the marker and the first entry only
	if got := b.entryScores(t, "main"); len(got) != 1 {
		t.Fatalf("after the restart Redis holds %d entries, want the snapshot's 1", len(got))
	}
	b.clock.Advance(10 * time.Minute)
	if res, nr := b.reserve(t, "main"); nr == nil {
		t.Fatalf("a third push granted in one rolling hour (limit 2): %+v; the ledger holds %v and %v", res, first.At, second.At)
	}
	if got := b.entryScores(t, "main"); len(got) != 2 {
		t.Errorf("after the rebuild %d entries, want the ledger's 2", len(got))
	}
}
