package quota

import (
	"context"
	"testing"
	"time"
)

// An operator lifts a day-long hold (a proxy's Retry-After: 86400) with
// Unblock: the store's record is deleted, then Redis's key. Redis then
// restarts from its RDB snapshot (its default persistence) taken while the
// hold was in force: the blocked key comes back. The guard sees the new
// run_id and rebuilds the app's windows from the store, which records no
// block, but the rebuild only ever adds the store's block and never drops
// one the store no longer holds: the lifted hold is in force again for the
// rest of its day, every send of the app waits (runs with deliver_within
// expire), although Unblock's contract is that "a rebuild cannot bring it
// back".
func TestUnblockedHoldComesBackWithARedisSnapshot(t *testing.T) {
	t.Parallel()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b, bl := setupBlocks(t, now)
	ctx := context.Background()

	b.mustReserve(t, "main") // the windows exist in Redis
	b.ledger.add("main", now)
	if _, err := b.guard.HoldFor(ctx, "main", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.client.Save(ctx).Err(); err != nil { // a periodic RDB snapshot
		t.Fatalf("SAVE: %v", err)
	}
	b.clock.Advance(10 * time.Minute)
	if _, err := b.guard.Unblock(ctx, "main"); err != nil {
		t.Fatal(err)
	}
	if got := bl.blocks["main"]; !got.IsZero() {
		t.Fatalf("setup: the store still records a block until %s", got)
	}
	b.mustReserve(t, "main") // lifted: the app sends again

	b.redis.Restart(t) // loads the snapshot: new run_id, the old blocked key
	b.clock.Advance(2 * time.Hour)
	if res, nr := b.reserve(t, "main"); nr != nil {
		t.Errorf("after the restart and the rebuild: no room by %s until %s (hour used %d, day used %d); "+
			"want room: the block was lifted by an operator and the store records none, got %+v",
			nr.By, nr.OpensAt.Format(time.RFC3339), nr.HourUsed, nr.DayUsed, res)
	}
}

// A rebuild makes Redis's block the store's, but not one another process
// set while the rebuild read the store: that process recorded its block
// after the read (the store first, Redis after), and the rebuild must keep
// it, as a block never shortens a longer one.
func TestRebuildKeepsABlockSetWhileItReadTheStore(t *testing.T) {
	t.Parallel()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b, bl := setupBlocks(t, now)
	ctx := context.Background()
	b.mustReserve(t, "main")

	var until time.Time
	bl.afterRead = func() {
		bl.afterRead = nil // once: the block's own store write reads nothing
		var err error
		if until, err = b.guard.BlockRateLimited(ctx, "main", 0); err != nil {
			t.Error(err)
		}
	}
	b.redis.Flush(t) // the next reservation rebuilds
	nr := b.mustBeFull(t, "main")
	if nr.By != ConstraintBlocked || !nr.OpensAt.Equal(until) {
		t.Errorf("after a rebuild that raced a 429's block: no room by %s until %s; want blocked until %s", nr.By, nr.OpensAt.Format(time.RFC3339), until.Format(time.RFC3339))
	}
}

// An operator lifts a day-long hold (Unblock: the store's record, then
// Redis's key) while a rebuild of the app's windows is under way (Redis
// lost its state: restarted, flushed, or a shared process started alone
// and forgot the windows): the rebuild has read the store's hold just
// before the lift. With two processes, the second rebuilds after the lift
// and reads the mark Unblock leaves in Redis as its "before". Was: the
// first rebuild's syncblock.lua wrote the hold back (Redis held no block
// before the read and none after, 7f65d33 added the mark); then, with two
// rebuilds, the second one's deleted the mark (current == before, nothing
// stored) and the first wrote the hold back anyway (5f8440c: a mark is
// never removed). Either way every send of the app waited out its day.
func TestUnblockDuringRebuildsIsNotUndone(t *testing.T) {
	t.Parallel()
	for _, rebuilds := range []int{1, 2} {
		now := at(t, "2026-06-01T12:00:00+08:00")
		b, bl := setupBlocks(t, now)
		ctx := context.Background()
		other, err := New(b.opts) // another worker process on the same Redis and store
		if err != nil {
			t.Fatal(err)
		}
		b.mustReserve(t, "main")
		if _, err := b.guard.HoldFor(ctx, "main", 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		b.redis.Flush(t) // every process's next reservation rebuilds
		var lifted time.Time
		bl.afterRead = func() { // the first rebuild has read the store's hold
			bl.afterRead = nil
			var err error
			if lifted, err = b.guard.Unblock(ctx, "main"); err != nil { // the operator
				t.Error(err)
			}
			if rebuilds == 2 {
				if _, err := other.Status(ctx, "main"); err != nil { // the second rebuild, after the lift
					t.Error(err)
				}
			}
		}
		res, nr := b.reserve(t, "main") // the first rebuild, then its reservation
		if lifted.IsZero() {
			t.Fatal("setup: Unblock lifted nothing")
		}
		if got := bl.blocks["main"]; !got.IsZero() {
			t.Fatalf("setup: the store still records a block until %s", got)
		}
		if nr != nil {
			t.Errorf("%d rebuild(s): after Unblock (lifted the hold until %s; the store records none): no room by %s until %s; want room, got %+v",
				rebuilds, lifted.Format(time.RFC3339), nr.By, nr.OpensAt.Format(time.RFC3339), res)
		}
	}
}
