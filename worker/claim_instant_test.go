package worker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/worker"
)

// claimCounter counts the handler's claims.
type claimCounter struct {
	worker.Store
	claims atomic.Int64
}

func (s *claimCounter) ClaimSend(ctx context.Context, sendID int64, now time.Time, lease time.Duration) (campaign.Send, error) {
	s.claims.Add(1)
	return s.Store.ClaimSend(ctx, sendID, now, lease)
}

// The handler judges a run's deliver_by at its clock's now, and the store
// judges the claim at the reservation's instant: the two must be one
// instant. A first version of the guard's millisecond fix stamped
// reservations at the next whole millisecond; for a run whose deliver_by
// lay in between, the handler found it not expired and the claim found it
// expired, and ProcessRun reserved, claimed, was refused and read again in
// a hot loop (thousands of claims in 2 s with a clock standing still).
func TestClaimInstantIsTheHandlersNowNearDeliverBy(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, time.Hour)
	run, _ := e.run(ids[0])
	if run.DeliverBy == nil {
		t.Fatal("run has no deliver_by")
	}
	// Half a millisecond before deliver_by (a real clock reads such instants
	// all the time; deliver_by itself has microseconds after an operator
	// retry: now + deliver_within).
	e.clock.Set(run.DeliverBy.Add(-500 * time.Microsecond))
	st := &claimCounter{Store: e.store}
	// No deadline (the handler snoozes a task whose deadline is nearer than
	// its attempt budget); cancelled after 2 s instead.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	time.AfterFunc(2*time.Second, cancel)
	err := e.handlerOn(st, e.guard).ProcessRun(ctx, ids[0])
	run, sends := e.run(ids[0])
	if len(e.emu.PushesFor(testKey)) != 1 || sends[0].Status != campaign.SendSent {
		t.Errorf("half a millisecond before deliver_by: send %s, %d pushes; want sent once", sends[0].Status, len(e.emu.PushesFor(testKey)))
	}
	if n := st.claims.Load(); n > 3 || err != nil {
		t.Errorf("ProcessRun: %v after %d claims of one send (run %s, send %s, deliver_by %s, clock %s): the handler and the claim disagree on whether deliver_by has passed",
			err, n, run.Status, sends[0].Status, run.DeliverBy.Format(time.RFC3339Nano), e.clock.Now().Format(time.RFC3339Nano))
	}
}
