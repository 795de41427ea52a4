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

// The primary's Retry-After holds when the backup answers a 5xx too (the
// next call goes back to the primary), and gives way when the backup
// answers as itself: its 429 says when to come back (its window's end).
// Was: the primary's was carried into every error (a backup's 429 held the
// App Key a maintenance page's day), then, for a moment, only into one
// without an answer (a backup's 502 lost it, and the next call met the
// primary's announced outage); both found by reviews.
func TestRetryAfterAcrossTheHopByTheBackupsAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		retryAfter time.Duration
	}{
		{"backup 502", 502, `<html>Bad Gateway</html>`, 10 * time.Minute},
		{"backup 500/1000", 500, `{"code":1000,"errorMessage":"internal"}`, 10 * time.Minute},
		{"backup 429/1008", 429, `{"code":1008,"errorMessage":"rate limited"}`, 0},
	} {
		primary, backup := newFakeService(t), newFakeService(t)
		primary.setReply(replyStatus(503, "text/html", "<html>Down for maintenance</html>", "Retry-After", "600"))
		backup.setReply(replyStatus(tc.status, "application/json", tc.body))
		c := newTestClient(t, newFakeClock(), 5*time.Second, primary.URL(), backup.URL())
		_, err := c.Push(context.Background(), validRequest())
		var e *Error
		if !errors.As(err, &e) || e.Attempts != 2 {
			t.Fatalf("%s: %v, want an *Error after 2 attempts", tc.name, err)
		}
		if e.RetryAfter != tc.retryAfter {
			t.Errorf("%s: RetryAfter = %s, want %s", tc.name, e.RetryAfter, tc.retryAfter)
		}
	}
}
