package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// blockStoreDown is the store as the guard's ledger while its
// quota_blocks write fails (a statement timeout, a database fail-over):
// everything else is the store.
type blockStoreDown struct{ *sqlstore.Store }

func (blockStoreDown) SaveBlock(context.Context, string, time.Time, time.Time) (time.Time, error) {
	return time.Time{}, errors.New("quota_blocks: i/o timeout")
}

// A 503 with Retry-After: a day (a proxy's maintenance page) is recorded
// (retry_wait until the Retry-After) and the app held; the hold reaches
// Redis but its record in the store fails (Guard.block writes the store,
// then Redis whatever the store said). `tagcast quota status` shows the
// app blocked; the operator runs `tagcast quota unblock`, which reports
// the block lifted, and frees the app's sends waiting to retry. Was (for a
// moment this session, 43f6ffb): ClearBlock moved only sends due by the
// block the store had recorded (none here), and the send that met the 503
// waited out the proxy's day (found by a review).
func TestUnblockOfARedisOnlyHoldFreesTheSend(t *testing.T) {
	t.Parallel()
	var wrapped worker.Pusher
	first := true
	e := setup(t, envOpts{wrap: func(p worker.Pusher) worker.Pusher {
		wrapped = pusherFunc(func(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
			if first {
				first = false
				return nil, &pushapi.Error{Path: pushapi.PathPush, HTTPStatus: 503, Message: "proxy maintenance page",
					MayHaveReached: true, RetryAfter: 24 * time.Hour, Attempts: 1}
			}
			return p.Push(ctx, req)
		})
		return wrapped
	}})
	g, err := quota.New(quota.Options{
		Client: e.rdb, Ledger: blockStoreDown{e.store}, Apps: map[string]quota.Policy{testApp: e.policy}, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := ntHandler(t, e, nil, g, wrapped, 0)
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)

	_ = h.ProcessRun(e.ctx, ids[0]) // the hold's store error goes to asynq
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendRetryWait {
		t.Fatalf("setup: send after the proxy's 503: %s, want retry_wait", sends[0].Status)
	}
	st, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if st.BlockedUntil.IsZero() {
		t.Fatal("setup: the hold did not reach Redis")
	}

	// The operator: `tagcast quota unblock --app main` (the serving
	// process's guard, the store as its ledger).
	lifted, err := e.guard.Unblock(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if lifted.IsZero() {
		t.Fatal("setup: Unblock lifted nothing")
	}

	e.clock.Set(t0.Add(30 * time.Minute))
	perr := e.handler.ProcessRun(e.ctx, ids[0])
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendSent {
		next := "none"
		if sends[0].NextAttemptAt != nil {
			next = sends[0].NextAttemptAt.Format(time.RFC3339)
		}
		t.Errorf("30 min after `quota unblock` reported the hold lifted (until %s): send %s, next attempt %s (ProcessRun: %v); "+
			"want sent: the unblock freed only sends up to the store's record of the block, and the hold had reached Redis alone",
			lifted.Format(time.RFC3339), sends[0].Status, next, perr)
	}
}
