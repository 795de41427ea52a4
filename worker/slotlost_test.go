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

// Redis loses the guard's state after a worker's claim, and another worker
// rebuilds the windows before the first checks its slot: the rebuild read
// the claim in flight and counted it, under the claim's name, so the slot
// is still this claim's and the push goes out on it. The worker used to
// find its reservation gone and give the claim back, while the slot the
// rebuild seeded for it stayed counted, unused, for its whole window: with
// a limit of 2, the run then waited an hour for room the service had
// (found by the e2e chaos test's lateness check).
func TestSlotRebuiltAfterTheClaimIsTheClaims(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 2, Daily: 10}})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	h := hooked(t, e, func(claim func() (campaign.Send, error)) (campaign.Send, error) {
		sd, err := claim()
		e.redis.Flush(t)
		// Another process reads the windows: the rebuild reads the ledger
		// with this claim in flight.
		if _, serr := e.guard.Status(e.ctx, testApp); serr != nil {
			t.Fatalf("the rebuild: %v", serr)
		}
		return sd, err
	})
	if err := h.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatalf("ProcessRun: %v", err)
	}
	run, sends := e.run(ids[0])
	if run.Status != campaign.RunDone || sends[0].Status != campaign.SendSent || sends[0].Attempts != 1 {
		t.Errorf("run %s, send %s after %d attempts; want done, sent on its first claim", run.Status, sends[0].Status, sends[0].Attempts)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 1 {
		t.Errorf("%d pushes, want 1", n)
	}
	e.hourUsed(1, "the one push: no slot counted twice or left behind")
}
