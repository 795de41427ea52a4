package pushapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The primary answers 503 with Retry-After: 600 (an announced outage). The
// call ends there (no hop within a call after an answer), in the retry
// class, and the caller schedules the next attempt from Error.RetryAfter,
// which carries the primary's 600 s; the backup is not called.
func TestRetryAfterOfA503IsTheCallers(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(503, "application/json", `{"code":1000,"errorMessage":"maintenance"}`, "Retry-After", "600"))
	c := newTestClient(t, newFakeClock(), 5*time.Second, primary.URL(), backup.URL())

	_, err := c.Push(context.Background(), validRequest())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not *Error", err, err)
	}
	if Classify(err) != OutcomeRetry || e.Attempts != 1 || backup.callCount() != 0 {
		t.Fatalf("outcome %s after %d attempts, backup calls %d; want retry after 1, the backup not called (%v)", Classify(err), e.Attempts, backup.callCount(), err)
	}
	if e.RetryAfter != 10*time.Minute {
		t.Errorf("RetryAfter = %s, want the primary's 10m0s", e.RetryAfter)
	}
}
