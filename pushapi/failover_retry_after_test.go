package pushapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The primary answers 503 with Retry-After: 600 (an announced outage); the
// client fails over, and the backup cannot be reached (nothing written).
// The call's error is in the retry class, and the caller schedules the next
// attempt from Error.RetryAfter: the primary's 600 s must survive the hop,
// or the next attempt goes back to the primary (the active host again after
// both failed) long before the service said it would be back.
func TestRetryAfterSurvivesTheFailoverHop(t *testing.T) {
	t.Parallel()
	primary := newFakeService(t)
	primary.setReply(replyStatus(503, "text/html", "<html>Down for maintenance</html>", "Retry-After", "600"))
	c := newTestClient(t, newFakeClock(), 5*time.Second, primary.URL(), deadHost(t))

	_, err := c.Push(context.Background(), validRequest())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not *Error", err, err)
	}
	if Classify(err) != OutcomeRetry || e.Attempts != 2 {
		t.Fatalf("outcome %s after %d attempts, want retry after 2 (%v)", Classify(err), e.Attempts, err)
	}
	if e.RetryAfter != 10*time.Minute {
		t.Errorf("RetryAfter = %s, want the primary's 10m0s: the 503's Retry-After is lost when the backup's attempt fails without an answer", e.RetryAfter)
	}
}
