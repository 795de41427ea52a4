package worker_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/worker"
)

// The primary host is behind a maintenance page: 503, no service code,
// Retry-After: 86400 (a day). The client hops to the backup (a 503 without
// a service code was not taken), and the backup, the service itself,
// answers 429/1008: this hour's window is full. The 429 says to wait for
// the next window boundary (an hour with the default rolling hour), and
// the client now sticks to the backup, which works. Was: the client
// carried the primary's Retry-After into the backup's 429, and the worker
// blocked the whole App Key for a day: every run of the app waited 24 h,
// and runs with a deliver_within expired unsent (found by a review).
func TestBackup429AfterAPrimarysMaintenanceRetryAfterBlocksToTheBoundary(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Retry-After", "86400")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("<html>Down for maintenance</html>"))
	}))
	t.Cleanup(primary.Close)
	backup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"code":1008,"errorMessage":"rate limit exceeded"}`))
	}))
	t.Cleanup(backup.Close)
	h := twoHostHandler(t, e, primary.URL, backup.URL)
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)

	s := snoozeOf(t, h.ProcessRun(e.ctx, ids[0]))
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendPending || sends[0].LastCode != pushapi.CodeRateLimited {
		t.Fatalf("send after the backup's 429: %s code %d; want pending 1008", sends[0].Status, sends[0].LastCode)
	}
	boundary := t0.Add(time.Hour) // rolling hour: the next window boundary
	st, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if st.BlockedUntil.After(boundary) || s.Until.After(boundary) {
		t.Errorf("after the backup's 429/1008 (no Retry-After of its own): app blocked until %s, run waits until %s; "+
			"want the next window boundary %s: the primary's maintenance Retry-After of a day blocks every send of the App Key "+
			"although the backup, which the client now uses, only said this hour is full",
			st.BlockedUntil.Format(time.RFC3339), s.Until.Format(time.RFC3339), boundary.Format(time.RFC3339))
	}
}

// A misconfigured proxy answers a send 503 with Retry-After: 86400. The
// worker holds the app a day (Guard.HoldFor): the case `tagcast quota
// unblock` is documented for ("a block the service no longer means (a
// proxy's Retry-After of a day, say)"). The operator lifts the hold, and
// the service is fine again: the send that met the proxy's answer goes out
// with the rest. Was: its own next_attempt_at was the Retry-After, and it
// waited out the whole day (or expired at its deliver_by) although the
// operator had lifted the hold (found by a review).
func TestUnblockAlsoFreesTheSendThatMetTheRetryAfter(t *testing.T) {
	t.Parallel()
	var e *env
	proxyDay := 24 * time.Hour
	first := true
	e = setup(t, envOpts{
		wrap: func(p worker.Pusher) worker.Pusher {
			return pusherFunc(func(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
				if first {
					first = false
					return nil, &pushapi.Error{Path: pushapi.PathPush, HTTPStatus: 503, Message: "proxy maintenance page",
						MayHaveReached: true, RetryAfter: proxyDay, Attempts: 1}
				}
				return p.Push(ctx, req)
			})
		},
	})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)

	var s *worker.Snooze
	if err := e.handler.ProcessRun(e.ctx, ids[0]); !errors.As(err, &s) {
		t.Fatalf("ProcessRun after the 503: %v, want a snooze", err)
	}
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendRetryWait {
		t.Fatalf("send after the proxy's 503: %s, want retry_wait", sends[0].Status)
	}

	// The operator: `tagcast quota unblock --app main`.
	lifted, err := e.guard.Unblock(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if lifted.IsZero() {
		t.Fatal("setup: Unblock lifted nothing")
	}

	// Half an hour later: past any backoff of a first attempt (at most
	// DefaultBackoff.Cap), and 23.5 hours before the proxy's Retry-After.
	e.clock.Set(t0.Add(30 * time.Minute))
	err = e.handler.ProcessRun(e.ctx, ids[0])
	_, sends := e.run(ids[0])
	if sends[0].Status != campaign.SendSent {
		next := "none"
		if sends[0].NextAttemptAt != nil {
			next = sends[0].NextAttemptAt.Format(time.RFC3339)
		}
		t.Errorf("30 min after the operator lifted the hold: send %s (next attempt %s, ProcessRun: %v); want sent: "+
			"the unblock does not reach the send that met the Retry-After, which still waits out the proxy's day",
			sends[0].Status, next, err)
	}
}

// twoHostHandler is a handler of e whose app's client calls primary, then
// backup (a real pushapi client: its fail-over and Retry-After rules).
func twoHostHandler(t *testing.T, e *env, primary, backup string) *worker.Handler {
	t.Helper()
	client, err := pushapi.NewClient(pushapi.ClientConfig{
		AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret), Hosts: []string{primary, backup},
		Timeout: 2 * time.Second, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ntHandler(t, e, nil, e.guard, client, 0)
}
