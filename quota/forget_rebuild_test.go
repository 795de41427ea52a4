package quota

import (
	"context"
	"testing"
)

// Every process on a shared Redis calls Guard.Forget as it starts
// (cmd/tagcast forgetShared), while other processes reserve and rebuild.
// A rebuild that read the ledger before the Forget (and before a push
// another process reserved, recorded and sent) must not seed its stale
// read afterwards: Forget takes the rebuild generation with the marker, as
// a flush does (seed.lua then answers -1). Was (for a moment this session,
// 8fe4c69): Forget deleted the markers only, the stale read was seeded
// over the push's slot, and the stalled process was granted the hour's
// only slot a second time (found by a review).
func TestForgetDuringARebuildRefusesAStaleLedgerRead(t *testing.T) {
	t.Parallel()
	now := at(t, "2026-06-01T12:00:00+08:00")
	apps := map[string]Policy{"main": {Hourly: 1, Daily: 3}}
	b := setup(t, apps, NoMargin, now) // process B: a worker that reserves and sends
	ctx := context.Background()

	// Process A: a worker on the same Redis and store, whose rebuild's
	// ledger read is slow.
	slow := &pausingLedger{inner: b.ledger, read: make(chan struct{}), proceed: make(chan struct{})} // held_test.go
	optsA := b.opts
	optsA.Ledger = slow
	gA, err := New(optsA)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		res Reservation
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := gA.Reserve(ctx, "main")
		done <- result{res, err}
	}()
	<-slow.read // A read the (empty) ledger; its seed is to come

	// B rebuilds, reserves the hour's only slot, records it in the ledger
	// (its claim) and finds it held: it sends.
	resB := b.mustReserve(t, "main")
	b.ledger.add("main", resB.At)
	if held, err := b.guard.Held(ctx, resB); err != nil || !held {
		t.Fatalf("setup: B's reservation held = %v, %v; want true", held, err)
	}

	// Process C starts on the shared Redis: forgetShared.
	gC, err := New(b.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := gC.Forget(ctx); err != nil {
		t.Fatal(err)
	}

	close(slow.proceed) // A's ledger read answers: it seeds, then reserves
	r := <-done
	if r.err == nil {
		held, herr := gA.Held(ctx, r.res)
		t.Errorf("A was granted a slot (hour used %d, held %v, %v) after B's push took the hour's only one (Hourly 1): "+
			"a rebuild that read the ledger before another process's Forget seeded its stale read over B's slot; "+
			"two pushes in the hour", r.res.HourUsed, held, herr)
	}
}
