package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/worker"
)

// A send's next attempt (a 503's Retry-After here; a backoff of up to
// worker.backoff.cap does the same) lies beyond its run's deliver_by. No
// attempt can follow (ClaimSend refuses a run past deliver_by), so the run
// has nothing left to wait for but its expiry at deliver_by. It snoozes
// until the next attempt instead: with worker.max_snooze 6h the run stays
// "running" two hours past its deliver_by (an operator can neither see it
// expired nor retry it), and with the default 15 min it is up to that late.
func TestNextAttemptBeyondDeliverByWakesAtDeliverBy(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	h, err := worker.NewHandler(worker.Deps{
		Store: e.store, Guard: e.guard, Clock: e.clock, Logger: testLogger(t), Jitter: func() float64 { return 0.5 },
		Pushers: map[string]worker.Pusher{testApp: pusherFunc(func(context.Context, *pushapi.Request) (*pushapi.PushResponse, error) {
			return nil, &pushapi.Error{Path: pushapi.PathPush, HTTPStatus: 503, Message: "maintenance", MayHaveReached: true, RetryAfter: 3 * time.Hour, Attempts: 1}
		})},
	}, worker.Config{Lease: time.Minute, MaxSnooze: 6 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, time.Hour)
	deliverBy := t0.Add(time.Hour)

	var s *worker.Snooze
	if err := h.ProcessRun(e.ctx, ids[0]); !errors.As(err, &s) {
		t.Fatalf("ProcessRun = %v, want a snooze", err)
	}
	run, sends := e.run(ids[0])
	if run.DeliverBy == nil || !run.DeliverBy.Equal(deliverBy) || sends[0].Status != campaign.SendRetryWait {
		t.Fatalf("run deliver_by %v, send %s; want %v and retry_wait", run.DeliverBy, sends[0].Status, deliverBy)
	}
	if back := e.clock.Now().Add(s.Delay); back.After(deliverBy.Add(time.Minute)) {
		t.Errorf("the run snoozes until %v (delay %s, comes back %v), %s past its deliver_by %v: it stays running with nothing left to try",
			s.Until, s.Delay, back, back.Sub(deliverBy), deliverBy)
	}
}
