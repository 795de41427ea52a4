package worker_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// The primary host announces an outage: 503 without a service code,
// Retry-After: 3600. The client hops to the backup, which answers 502 (a
// gateway's page, no Retry-After): a host fault, so the next call goes back
// to the primary. The primary's Retry-After holds the app and the send for
// the hour. Was (for a moment this session, c8cb6d5): the error carried no
// Retry-After (the backup had answered), and the send called the primary
// again within the minute, an attempt and a quota slot each time (found by
// a review).
func TestBackup5xxAfterPrimarysRetryAfterStillHoldsTheApp(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	var primaryCalls atomic.Int32
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		primaryCalls.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("<html>Down for maintenance</html>"))
	}))
	t.Cleanup(primary.Close)
	backup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>Bad gateway</html>"))
	}))
	t.Cleanup(backup.Close)
	h := twoHostHandler(t, e, primary.URL, backup.URL)
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	outageEnd := t0.Add(time.Hour)

	_ = snoozeOf(t, h.ProcessRun(e.ctx, ids[0]))
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendRetryWait {
		t.Fatalf("send after primary 503 (Retry-After 1h) + backup 502: %s, want retry_wait", sends[0].Status)
	}
	if primaryCalls.Load() != 1 {
		t.Fatalf("setup: primary called %d times, want 1", primaryCalls.Load())
	}

	// A minute later: past the send's backoff (15 s), 59 minutes before
	// the primary's announced end of outage.
	e.clock.Set(t0.Add(time.Minute))
	perr := h.ProcessRun(e.ctx, ids[0])
	st, _ := e.guard.Status(e.ctx, testApp)
	if n := primaryCalls.Load(); n != 1 {
		_, sends := e.run(ids[0])
		t.Errorf("a minute after the primary's 503 with Retry-After 3600 (backup answered 502, next call back on the primary): "+
			"primary called %d times, send %s after %d attempts (ProcessRun: %v), app blocked until %v; want no call before %v: "+
			"the primary's Retry-After is dropped because the backup answered, although the next call goes back to the primary",
			n, sends[0].Status, sends[0].Attempts, perr, st.BlockedUntil, outageEnd)
	}
}

// failingHoldGuard is the guard whose hold cannot be written (Redis and
// the store's quota_blocks unreachable for that moment).
type failingHoldGuard struct{ *quota.Guard }

func (g failingHoldGuard) HoldFor(context.Context, string, time.Duration) (time.Time, error) {
	return time.Time{}, errors.New("quota: app main: block: i/o timeout")
}

// A send that got a 5xx's Retry-After waits for it itself, whether or not
// the app's hold could be written (Guard.HoldFor failed: the handler
// records retry_wait first and only then holds; see
// TestA5xxHoldSlowToAnswerDoesNotLoseTheOutcome). Was (for a moment this
// session, c8cb6d5): its next attempt was its backoff and the hold alone
// kept it from calling, so with the hold unwritten it called again in the
// middle of the announced outage (found by a review). An operator's
// unblock frees it (TestUnblockAlsoFreesTheSendThatMetTheRetryAfter).
func TestUnwrittenHoldStillKeepsTheSendToTheRetryAfter(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	var calls atomic.Int32
	p := pusherFunc(func(context.Context, *pushapi.Request) (*pushapi.PushResponse, error) {
		calls.Add(1)
		return nil, &pushapi.Error{Path: pushapi.PathPush, HTTPStatus: 503, Message: "maintenance",
			MayHaveReached: true, RetryAfter: time.Hour, Attempts: 1}
	})
	h := ntHandler(t, e, nil, failingHoldGuard{e.guard}, p, 0)
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	outageEnd := t0.Add(time.Hour)

	_ = h.ProcessRun(e.ctx, ids[0]) // the hold's error goes to asynq, which delivers the task again
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendRetryWait || calls.Load() != 1 {
		t.Fatalf("setup: send %s after %d calls, want retry_wait after 1", sends[0].Status, calls.Load())
	}

	// asynq delivers the task again within MaxFailureDelay (a minute).
	e.clock.Set(t0.Add(worker.MaxFailureDelay))
	perr := h.ProcessRun(e.ctx, ids[0])
	if n := calls.Load(); n != 1 {
		_, sends := e.run(ids[0])
		t.Errorf("a minute after a 503 with Retry-After 1h whose hold could not be written: the service was called %d times "+
			"(send %s, attempts %d, ProcessRun: %v); want no call before %v: the send's next attempt is its backoff, "+
			"and with no hold nothing keeps it to the service's Retry-After",
			n, sends[0].Status, sends[0].Attempts, perr, outageEnd)
	}
}
