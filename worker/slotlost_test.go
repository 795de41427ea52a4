package worker_test

import (
	"errors"
	"testing"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// Redis loses the guard's state between a worker's reservation and its
// claim, and another worker rebuilds from a ledger that does not hold the
// first worker's attempt yet and takes the same last slot. The first
// worker must not call on a slot that is no longer counted: it sees its
// reservation gone after its claim, gives both back and reserves again on
// the rebuilt windows, which are full. Without that check the service
// answered the second push of its hour with a 429.
func TestSlotLostBeforeTheClaimIsNotCalledOn(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 1, Daily: 10}})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	h := hooked(t, e, func(claim func() (campaign.Send, error)) (campaign.Send, error) {
		e.redis.Flush(t)
		// Another worker: its reservation rebuilds the windows from the
		// ledger (empty: the claim has not committed) and its push takes
		// the service's one slot of the hour.
		if _, err := e.guard.Reserve(e.ctx, testApp); err != nil {
			t.Fatalf("the other worker's reservation: %v", err)
		}
		other := body()
		if _, err := e.client.Push(e.ctx, &other); err != nil {
			t.Fatalf("the other worker's push: %v", err)
		}
		return claim()
	})
	err := h.ProcessRun(e.ctx, ids[0])
	var sn *worker.Snooze
	if !errors.As(err, &sn) || sn.Reason != "quota" {
		t.Fatalf("ProcessRun: %v; want a snooze for the quota", err)
	}
	if c := e.emu.Counters(testKey); c.RateLimited != 0 {
		t.Errorf("the service answered %d × 429: a push was made on a slot Redis had lost", c.RateLimited)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 1 {
		t.Errorf("%d pushes, want 1 (the other worker's)", n)
	}
	_, sends := e.run(ids[0])
	if sends[0].Status != campaign.SendPending || sends[0].Attempts != 0 {
		t.Errorf("send %s with %d attempts; want pending, its attempt given back", sends[0].Status, sends[0].Attempts)
	}
	e.hourUsed(1, "the other worker's slot only")
}
