package quota

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// blockLedger is a fakeLedger that also keeps blocks (a BlockStore, as the
// SQL store is).
type blockLedger struct {
	*fakeLedger
	mu      sync.Mutex
	blocks  map[string]time.Time
	saveErr error
	// afterRead, when set, runs after BlockedUntil has read its answer
	// (outside the lock): another process acting in that moment.
	afterRead func()
}

func (l *blockLedger) SaveBlock(_ context.Context, app string, until, _ time.Time) (time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.saveErr != nil {
		return time.Time{}, l.saveErr
	}
	if until.After(l.blocks[app]) {
		l.blocks[app] = until
	}
	return l.blocks[app], nil
}

func (l *blockLedger) ClearBlock(_ context.Context, app string, _ time.Time) (time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	until := l.blocks[app]
	delete(l.blocks, app)
	return until, nil
}

func (l *blockLedger) BlockedUntil(_ context.Context, app string) (time.Time, error) {
	l.mu.Lock()
	until, after := l.blocks[app], l.afterRead
	l.mu.Unlock()
	if after != nil {
		after()
	}
	return until, nil
}

// setupBlocks is setup with a ledger that keeps blocks.
func setupBlocks(t *testing.T, now time.Time) (*bundle, *blockLedger) {
	t.Helper()
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3}, "other": {Hourly: 2, Daily: 3}}, NoMargin, now)
	bl := &blockLedger{fakeLedger: b.ledger, blocks: map[string]time.Time{}}
	b.opts.Ledger = bl
	g, err := New(b.opts)
	if err != nil {
		t.Fatal(err)
	}
	b.guard = g
	return b, bl
}

// A 429's block is quota knowledge: it survives Redis losing its state.
// With a ledger that keeps blocks, the guard records the block there and
// its rebuild after a flush blocks the app again, until the same instant.
// It used to live only in Redis: after a flush (or in each `push send`'s
// fresh embedded Redis) the next reservation went to the service's closed
// window and met a second 429.
func TestABlockSurvivesRedisLosingItsState(t *testing.T) {
	t.Parallel()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b, bl := setupBlocks(t, now)
	ctx := context.Background()

	until, err := b.guard.BlockRateLimited(ctx, "main", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := bl.blocks["main"]; !got.Equal(until) {
		t.Fatalf("recorded block %s, want %s", got, until)
	}
	b.redis.Flush(t)

	nr := b.mustBeFull(t, "main")
	if !nr.OpensAt.Equal(until) || nr.By != ConstraintBlocked {
		t.Errorf("after a flush: opens at %s by %s; want %s by blocked", nr.OpensAt, nr.By, until)
	}
	if st, err := b.guard.Status(ctx, "main"); err != nil || !st.BlockedUntil.Equal(until) {
		t.Errorf("status after the flush: blocked until %s, %v; want %s", st.BlockedUntil, err, until)
	}
	b.mustReserve(t, "other") // per app

	// Once over, a recorded block blocks nothing: the windows rebuild and
	// the app reserves.
	b.clock.Set(until)
	b.redis.Flush(t)
	b.mustReserve(t, "main")
}

// A store that cannot record the block does not keep it out of Redis: the
// next reservation is still refused, and the caller hears of the failure.
// (Until the next rebuild, which makes Redis's block the store's: see
// TestUnblockedHoldComesBackWithARedisSnapshot.)
func TestABlockTheStoreCannotRecordStillHolds(t *testing.T) {
	t.Parallel()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b, bl := setupBlocks(t, now)
	bl.saveErr = errors.New("database is down")
	b.mustReserve(t, "main") // the push the 429 answers: the windows exist

	until, err := b.guard.BlockRateLimited(context.Background(), "main", 0)
	if err == nil || !errors.Is(err, bl.saveErr) {
		t.Errorf("BlockRateLimited with the store down = %v; want its error", err)
	}
	if nr := b.mustBeFull(t, "main"); !nr.OpensAt.Equal(until) || nr.By != ConstraintBlocked {
		t.Errorf("opens at %s by %s; want %s by blocked", nr.OpensAt, nr.By, until)
	}
}

// Forget makes every app rebuild its windows from the ledger at its next
// reservation: a push the ledger holds and this Redis never saw (sent
// through another guard) counts.
func TestForgetRebuildsFromTheLedger(t *testing.T) {
	t.Parallel()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3}}, NoMargin, now)
	b.mustReserve(t, "main")
	b.ledger.add("main", now, now) // two pushes recorded by another guard
	b.mustReserve(t, "main")       // this Redis still counts only its own
	if err := b.guard.Forget(context.Background()); err != nil {
		t.Fatal(err)
	}
	if nr := b.mustBeFull(t, "main"); nr.By != ConstraintHour {
		t.Errorf("after Forget: full by %s; want the hour window, rebuilt with the ledger's two pushes", nr.By)
	}
}

// TestUnblockLiftsTheBlockForGood: an operator's Unblock lifts a block
// whatever set it, in Redis and in the store, so neither the next
// reservation nor a rebuild after Redis loses its state finds it again; the
// windows' counts stay as they were.
func TestUnblockLiftsTheBlockForGood(t *testing.T) {
	t.Parallel()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b, bl := setupBlocks(t, now)
	ctx := context.Background()
	b.mustReserve(t, "main")
	b.ledger.add("main", now) // its send, as the store would record it
	if _, err := b.guard.HoldFor(ctx, "main", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if nr := b.mustBeFull(t, "main"); nr.By != ConstraintBlocked {
		t.Fatalf("held app: no room by %s, want blocked", nr.By)
	}
	if _, err := b.guard.Unblock(ctx, "main"); err != nil {
		t.Fatal(err)
	}
	if got := bl.blocks["main"]; !got.IsZero() {
		t.Errorf("the store still records a block until %s", got)
	}
	b.redis.Flush(t)
	res := b.mustReserve(t, "main") // rebuilt from the ledger: no block, one slot used
	if res.HourUsed != 2 {
		t.Errorf("after the unblock and a rebuild: hour used %d, want 2 (the counts are kept)", res.HourUsed)
	}
	if _, err := b.guard.Unblock(ctx, "nope"); !errors.Is(err, ErrUnknownApp) {
		t.Errorf("Unblock of an unknown app = %v, want ErrUnknownApp", err)
	}
}

// TestUnblockReturnsTheBlockItLifted: Unblock names the block it lifted, the
// later of the store's and Redis's, read as each is deleted: one held in
// Redis, one only the store still records (Redis lost it), and none when the
// app was not blocked or its block was already over (its key outlives it).
func TestUnblockReturnsTheBlockItLifted(t *testing.T) {
	t.Parallel()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b, bl := setupBlocks(t, now)
	ctx := context.Background()
	unblock := func(what string, want time.Time) {
		t.Helper()
		got, err := b.guard.Unblock(ctx, "main")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !got.Equal(want) {
			t.Errorf("%s: Unblock lifted a block until %s, want %s", what, got, want)
		}
	}

	held, err := b.guard.HoldFor(ctx, "main", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	unblock("a held app", held)
	unblock("unblocked again", time.Time{})

	bl.mu.Lock()
	bl.blocks["main"] = now.Add(2 * time.Hour) // recorded; this Redis never saw it
	bl.mu.Unlock()
	unblock("a block only the store records", now.Add(2*time.Hour))
	if _, err := b.guard.HoldFor(ctx, "main", time.Hour); err != nil {
		t.Fatal(err)
	}
	bl.mu.Lock()
	bl.blocks["main"] = now.Add(30 * time.Minute) // an earlier one in the store
	bl.mu.Unlock()
	unblock("Redis's block later than the store's", now.Add(time.Hour))

	if _, err := b.guard.HoldFor(ctx, "main", time.Minute); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(2 * time.Minute)
	unblock("a block already over", time.Time{})
	// The key holds the lift's mark (minus its instant: see unblock.lua),
	// no block.
	if v, err := b.client.Get(ctx, b.guard.keys("main").blocked).Int64(); err != nil || v >= 0 {
		t.Errorf("the ended block's key holds %d (%v), want the lift's negative mark", v, err)
	}
}
