package pushapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

// push-api-facts.md: "Retryable: 1000, 1050, HTTP 5xx, network errors before
// the request was sent". A call whose primary answers 503/1000 and whose
// fail-over hop is refused before anything is written consists of two
// retryable attempts only; it must classify as retry, not unknown (unknown
// sends are never re-sent automatically).
func TestServiceUnavailableThenUnsentHopIsRetry(t *testing.T) {
	t.Parallel()
	primary := newFakeService(t)
	primary.setReply(replyStatus(503, "text/html", "<html>Service Unavailable</html>"))
	c := newTestClient(t, newFakeClock(), 5*time.Second, primary.URL(), deadHost(t))
	_, err := c.Push(context.Background(), validRequest())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	if e.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2 (one fail-over hop)", e.Attempts)
	}
	if got := Classify(err); got != OutcomeRetry {
		t.Errorf("503/1000 then a refused connection: outcome %s, want %s (%v)", got, OutcomeRetry, err)
	}
	if e.MayHaveReached || !e.NotSent() {
		t.Errorf("a 503 (not acted on), then nothing written: MayHaveReached %v NotSent %v, want false true", e.MayHaveReached, e.NotSent())
	}
}

// A 500 (or 502, 504) may follow a push and count at the service: the
// worker keeps its quota slot. The call does not hop to the backup under that one
// reservation (two calls that may count); the host is marked failed, and
// the next call, which the caller makes under a reservation of its own,
// goes to the backup. Was: every 5xx hopped within the call, and the e2e
// harness, given two hosts, found calls over the quota the guard reserved.
func TestFiveHundredDoesNotHopWithinTheCall(t *testing.T) {
	t.Parallel()
	for _, status := range []int{500, 502, 504} {
		primary, backup := newFakeService(t), newFakeService(t)
		primary.setReply(replyStatus(status, "application/json", `{"code":1000,"errorMessage":"internal"}`))
		c := newTestClient(t, newFakeClock(), 5*time.Second, primary.URL(), backup.URL())
		_, err := c.Push(context.Background(), validRequest())
		var e *Error
		if !errors.As(err, &e) || e.Attempts != 1 || Classify(err) != OutcomeRetry {
			t.Fatalf("HTTP %d on the primary: %v (attempts %d), want retry after one attempt", status, err, e.Attempts)
		}
		if n := backup.callCount(); n != 0 {
			t.Errorf("HTTP %d on the primary: the backup got %d calls within the same call, want none", status, n)
		}
		if c.ActiveHost() != backup.URL() {
			t.Errorf("HTTP %d on the primary: active host %s, want the backup for the next call", status, c.ActiveHost())
		}
		if _, err := c.Push(context.Background(), validRequest()); err != nil || backup.callCount() != 1 {
			t.Errorf("the next call after HTTP %d: %v, backup calls %d; want it sent on the backup", status, err, backup.callCount())
		}
	}
}

// A 503 without a service code (a gateway's, a host out of service) is
// HTTP's "unable to handle the request": not acted on, so a call whose only
// answer it is gives its quota reservation back (NotSent), and stays in the
// retry class.
func TestA503WasNotActedOn(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t)
	svc.setReply(replyStatus(503, "text/html", "<html>Service Unavailable</html>"))
	c := newTestClient(t, newFakeClock(), 5*time.Second, svc.URL())
	_, err := c.Push(context.Background(), validRequest())
	var e *Error
	if !errors.As(err, &e) || Classify(err) != OutcomeRetry || e.MayHaveReached || !e.NotSent() {
		t.Errorf("a lone 503 without a service code: %v (outcome %s, MayHaveReached %v, NotSent %v); want retry, not reached, not sent",
			err, Classify(err), e.MayHaveReached, e.NotSent())
	}
}

// The tag APIs are idempotent (set replaces a user's tags, get reads) and
// outside the push quota: they hop to the backup within the call after any
// 5xx. Each tags command is a process of its own whose client starts on the
// primary, so without the hop a primary answering 500 failed every one.
func TestTagCallsHopAfterAny5xx(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(500, "application/json", `{"code":1000,"errorMessage":"internal"}`))
	c := newTestClient(t, newFakeClock(), 5*time.Second, primary.URL(), backup.URL())
	if err := c.SetUserTags(context.Background(), "u1", []string{"vip"}); err != nil {
		t.Errorf("set tags with the primary answering 500: %v, want the backup's answer", err)
	}
	if backup.callCount() != 1 {
		t.Errorf("backup calls %d, want 1 (the hop)", backup.callCount())
	}
}

// A 503 whose body is the service's own code 1050 ("internal service
// timeout": the service took the call and timed out inside it) may follow
// a push, as at 504: no hop within the push call, the slot kept. Only a 503
// without a service code (from in front of the service) is held as not
// acted on. Was (759e978, for a moment): every 503, whatever its code, and
// the backup pushed the same send a second time under one reservation,
// which was then given back.
func TestA503CarryingTheServiceTimeoutCodeMayHaveActed(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(503, "application/json", `{"code":1050,"errorMessage":"internal service timeout"}`))
	c := newTestClient(t, newFakeClock(), 5*time.Second, primary.URL(), backup.URL())

	_, err := c.Push(context.Background(), validRequest())
	if n := backup.callCount(); n != 0 {
		t.Errorf("after the primary's 503/1050 the backup got %d push calls within the call, want 0: "+
			"the service's code says it timed out while handling the push, which may have gone out", n)
	}
	var e *Error
	if errors.As(err, &e) && (e.NotSent() || !e.MayHaveReached) {
		t.Errorf("503/1050: NotSent %v, MayHaveReached %v; want false, true (1050 may follow a push, as at 504)", e.NotSent(), e.MayHaveReached)
	}
}
