package worker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// The service answers 503 with Retry-After: 3600 (an announced outage,
// push-api-facts.md: "honour one if present"). The send that got it waits
// the hour, and the app is held for it; another run of the same app, due at the same instant, must not
// call the service during that hour either: each such call gets the same
// 503, spends one of its send's attempts, and keeps a quota slot (a 5xx may
// count at the service), so with the default quota (3 a day) an announced
// outage eats the day's pushes.
func TestRetryAfterOnA5xxHoldsTheApp(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var e *env
	outageEnd := t0.Add(time.Hour)
	e = setup(t, envOpts{
		policy: quota.Policy{Hourly: 2, Daily: 3},
		wrap: func(p worker.Pusher) worker.Pusher {
			return pusherFunc(func(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
				calls.Add(1)
				if now := e.clock.Now(); now.Before(outageEnd) {
					return nil, &pushapi.Error{Path: pushapi.PathPush, HTTPStatus: 503, Message: "maintenance",
						MayHaveReached: true, RetryAfter: outageEnd.Sub(now), Attempts: 1}
				}
				return p.Push(ctx, req)
			})
		},
	})
	ids := fire(t, e.ctx, e.store, 2, body(), t0, t0, 0)

	var s *worker.Snooze
	if err := e.handler.ProcessRun(e.ctx, ids[0]); !errors.As(err, &s) {
		t.Fatalf("run 1: %v, want a snooze for its next attempt", err)
	}
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendRetryWait || !sends[0].NextAttemptAt.Equal(outageEnd) {
		t.Fatalf("run 1's send: %s next %v, want retry_wait at the Retry-After %v", sends[0].Status, sends[0].NextAttemptAt, outageEnd)
	}
	if st, err := e.guard.Status(e.ctx, testApp); err != nil || !st.BlockedUntil.Equal(outageEnd) {
		t.Fatalf("the app's hold ends %v (%v), want at the Retry-After %v", st.BlockedUntil, err, outageEnd)
	}

	// Same instant, same app: the service said it is down for an hour.
	err := e.handler.ProcessRun(e.ctx, ids[1])
	_, sends := e.run(ids[1])
	if n := calls.Load(); n != 1 {
		t.Errorf("the service was called %d times within the Retry-After it announced, want 1 (run 2: %v; its send %s, %d attempts, code %d)",
			n, err, sends[0].Status, sends[0].Attempts, sends[0].LastCode)
	}
	if st, err := e.guard.Status(e.ctx, testApp); err != nil || st.Day.Used != 1 {
		t.Errorf("day quota used %d (%v), want 1: a call made into an announced outage keeps a slot of the day's 3", st.Day.Used, err)
	}
}
