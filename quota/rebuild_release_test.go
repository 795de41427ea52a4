package quota

import (
	"context"
	"testing"
	"time"
)

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

// A release after a rebuild frees nothing, even an entry of the same
// instant: with the clock standing still (a simulated one, or two
// reservations in one microsecond) that entry may be another attempt's, and
// freeing it would let one push too many through. (A reviewer's fix that
// freed "the rebuilt entry of the same attempt" did exactly that in the
// 4-process quota test: one 429.)
func TestReleaseAfterARebuildNeverFreesAnotherAttempt(t *testing.T) {
	ctx := context.Background()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 3, Daily: 3}}, NoMargin, now)

	claimed := b.mustReserve(t, "main")
	unclaimed := b.mustReserve(t, "main") // the same instant, never claimed
	if !claimed.At.Equal(unclaimed.At) {
		t.Fatalf("setup: %s and %s, want one instant", claimed.At, unclaimed.At)
	}
	b.ledger.add("main", claimed.At)

	b.redis.Flush(t)
	b.mustReserve(t, "main") // rebuilds: the claimed attempt, and this one
	if got := len(b.entryScores(t, "main")); got != 2 {
		t.Fatalf("after the rebuild %d entries, want 2", got)
	}
	if err := b.guard.Release(ctx, unclaimed); err != nil {
		t.Fatal(err)
	}
	if got := len(b.entryScores(t, "main")); got != 2 {
		t.Errorf("releasing a reservation the rebuild never saw: %d entries, want 2 (the claimed attempt's slot kept)", got)
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
