package pushapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A 5xx may have counted at the service: the worker keeps its quota slot.
// The call does not hop to the backup under that one reservation (two
// calls that may count); the host is marked failed, and the next call,
// which the caller makes under a reservation of its own, goes to the
// backup. Was: every 5xx hopped within the call, and the e2e harness,
// given two hosts, found calls over the quota the guard reserved; then a
// 503 still did, and a 503 that followed a push sent it twice.
func TestFiveHundredDoesNotHopWithinTheCall(t *testing.T) {
	t.Parallel()
	for _, status := range []int{500, 502, 503, 504} {
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
