package admin_test

import (
	"strings"
	"testing"
)

// The tag APIs allow 10 calls a second; a call over that is the service's
// rate limit (429/1008), the caller's to wait out: the API answers 429,
// with Retry-After when the service gave one, not a 502 that reads as a
// server fault (found by a review).
func TestTagCallOverTheServiceRateLimitIs429(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	var limited, other int
	for range 15 {
		r := b.call(t, "POST", "/v1/apps/main/tags/batch", "Bearer "+tokenA, "application/json",
			strings.NewReader(`{"userIds": ["u1"], "tags": ["vip"]}`))
		switch r.status {
		case 200:
		case 429:
			limited++
			if !strings.Contains(r.body, `"service_code":1008`) {
				t.Errorf("429 without the service's code: %s", r)
			}
		default:
			other++
			t.Errorf("batch tag call: %s; want 200 or 429", r)
		}
	}
	if limited == 0 {
		t.Errorf("15 batch tag calls at once were never rate limited by the emulator (10 a second): the test shows nothing")
	}
}
