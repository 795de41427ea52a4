package quota

import (
	"context"
	"testing"
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
