package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// slowBlockGuard is the guard whose hold does not answer within the
// handler's StoreTimeout: Guard.HoldFor writes quota_blocks and then Redis,
// and either may be in the middle of a fail-over (go-redis alone retries a
// dead server for several ReadTimeouts).
type slowBlockGuard struct{ *quota.Guard }

func (g slowBlockGuard) HoldFor(ctx context.Context, _ string, _ time.Duration) (time.Time, error) {
	<-ctx.Done()
	return time.Time{}, ctx.Err()
}

// The 5xx hold (worker.attempt -> Guard.HoldFor) ran on the context that
// bounds recording the call's outcome (sctx, StoreTimeout), and before
// recordOutcome. A Block slow to answer eats the whole budget, and the
// outcome of a call the service answered (503, Retry-After) is never
// recorded: the send stays in_flight and becomes unknown when its lease
// lapses, needing an operator's `retry --unknown`, where before this
// change it was recorded retry_wait and retried by itself. The hold only
// protects other sends; it must not cost this send its outcome.
func TestA5xxHoldSlowToAnswerDoesNotLoseTheOutcome(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	p := pusherFunc(func(context.Context, *pushapi.Request) (*pushapi.PushResponse, error) {
		return nil, &pushapi.Error{Path: pushapi.PathPush, HTTPStatus: 503, Message: "maintenance",
			MayHaveReached: true, RetryAfter: time.Minute, Attempts: 1}
	})
	h, err := worker.NewHandler(worker.Deps{
		Store: e.store, Guard: slowBlockGuard{e.guard}, Pushers: map[string]worker.Pusher{testApp: p},
		Clock: e.clock, Logger: testLogger(t), Jitter: func() float64 { return 0.5 },
	}, worker.Config{Lease: time.Minute, StoreTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	perr := h.ProcessRun(e.ctx, ids[0])
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendRetryWait {
		t.Errorf("send after a 503 (Retry-After 1m) whose hold was slow to set: %s (ProcessRun: %v); want retry_wait, "+
			"the service's answer recorded (an in_flight send becomes unknown when its lease lapses)", sends[0].Status, perr)
	}
}
