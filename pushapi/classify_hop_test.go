package pushapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

// push-api-facts.md: "Retryable: 1000, 1050, HTTP 5xx, network errors before
// the request was sent". A call whose primary answers 500/1000 and whose
// fail-over hop is refused before anything is written consists of two
// retryable attempts only; it must classify as retry, not unknown (unknown
// sends are never re-sent automatically).
func TestFiveHundredThenUnsentHopIsRetry(t *testing.T) {
	t.Parallel()
	primary := newFakeService(t)
	primary.setReply(replyStatus(500, "application/json", `{"code":1000,"errorMessage":"internal"}`))
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
		t.Errorf("500/1000 then a refused connection: outcome %s, want %s (%v)", got, OutcomeRetry, err)
	}
	if !e.MayHaveReached || e.NotSent() {
		t.Errorf("the 5xx attempt may have reached the service: MayHaveReached %v NotSent %v, want true false", e.MayHaveReached, e.NotSent())
	}
}
