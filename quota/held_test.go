package quota

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Held tells a reservation that still holds its slot from one Redis has
// lost: given back, flushed away, or written over by a rebuild. The worker
// checks it between its claim and its call (see Guard.Held).
func TestHeldSeesASlotRedisLost(t *testing.T) {
	ctx := context.Background()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 5, Daily: 5}}, NoMargin, now)
	held := func(res Reservation) bool {
		t.Helper()
		ok, err := b.guard.Held(ctx, res)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	kept := b.mustReserve(t, "main")
	released := b.mustReserve(t, "main")
	if err := b.guard.Release(ctx, released); err != nil {
		t.Fatal(err)
	}
	if !held(kept) {
		t.Error("a reservation just granted is not held")
	}
	if held(released) {
		t.Error("a released reservation is still held")
	}

	flushed := b.mustReserve(t, "main")
	b.redis.Flush(t)
	if held(flushed) {
		t.Error("a reservation flushed away is still held")
	}

	// A rebuild writes the windows over whatever a restart brought back.
	before := b.mustReserve(t, "main") // rebuilds after the flush
	if !held(before) {
		t.Fatal("the reservation after the rebuild is not held")
	}
	if err := b.client.Del(ctx, b.guard.keys("main").marker).Err(); err != nil {
		t.Fatal(err)
	}
	b.mustReserve(t, "main") // rebuilds again: the ledger never saw before
	if held(before) {
		t.Error("a reservation a rebuild wrote over is still held")
	}

	if _, err := b.guard.Held(ctx, Reservation{App: "main"}); err == nil {
		t.Error("Held of an empty reservation id: no error")
	}
}

// pausingLedger reads the inner ledger, then (first call only) signals that
// the read is done and waits before handing the result back: the moment
// between a rebuild's ledger read and its seed.lua.
type pausingLedger struct {
	inner   *fakeLedger
	once    sync.Once
	read    chan struct{}
	proceed chan struct{}
}

func (l *pausingLedger) SentBetween(ctx context.Context, app string, from, to time.Time) ([]time.Time, error) {
	out, err := l.inner.SentBetween(ctx, app, from, to)
	l.once.Do(func() {
		close(l.read)
		<-l.proceed
	})
	return out, err
}

// A rebuild reads the ledger first and seeds after. Redis came back from a
// snapshot (or failed over to a replica) that holds A's entry, with the
// marker of another server's run: B's rebuild reads a ledger without A's
// claim, A's claim commits and A checks Held while the entry is still in
// place, then B seeds without A and takes the same last slot. Held must
// answer false there (the marker is not this run's), or both push. (A
// review found Held answering true from the entry alone.)
func TestHeldIsFalseWhileARebuildIsUnderWay(t *testing.T) {
	ctx := context.Background()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 1, Daily: 5}}, NoMargin, now)

	// Worker A reserves the last slot of the hour.
	a := b.mustReserve(t, "main")

	// Redis restarts from an RDB snapshot taken after A's reservation (or a
	// replica that has it is promoted): the entry is back, the marker holds
	// the old server's run_id.
	if err := b.client.Set(ctx, b.guard.keys("main").marker, "0123456789abcdef0123456789abcdef01234567", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// Worker B (another process) reserves: its script answers "rebuild", and
	// it reads the ledger, which does not hold A's claim yet.
	pl := &pausingLedger{inner: b.ledger, read: make(chan struct{}), proceed: make(chan struct{})}
	opts := b.opts
	opts.Ledger = pl
	gb, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		res Reservation
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := gb.Reserve(ctx, "main")
		done <- result{r, err}
	}()
	<-pl.read

	// A's claim commits (the ledger now counts it), then A checks Held.
	b.ledger.add("main", a.At)
	held, err := b.guard.Held(ctx, a)
	if err != nil {
		t.Fatal(err)
	}

	// B's rebuild seeds from what it read and reserves.
	close(pl.proceed)
	rb := <-done
	if held && rb.err == nil {
		t.Fatalf("Held(A) = true, and B was granted %+v in the same hour with hourly limit 1: two pushes on one slot", rb.res)
	}
}
