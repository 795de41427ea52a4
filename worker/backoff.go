package worker

import (
	"fmt"
	"time"
)

// Backoff is the retry policy of a send whose attempt ended in the retry
// class (1000, 1050, 5xx, a network error before the request was written):
// exponential with full jitter, capped, bounded in attempts.
type Backoff struct {
	// Base is the ceiling of the first retry's delay.
	Base time.Duration
	// Cap bounds every backoff delay. A longer Retry-After of the service
	// is honoured, up to maxRetryAfter.
	Cap time.Duration
	// MaxAttempts is the number of calls a send may make; the send fails
	// (permanently, code and message kept) when its last allowed attempt
	// is in the retry class.
	MaxAttempts int
}

// maxRetryAfter bounds the wait a service's Retry-After imposes on a retry,
// as the quota guard bounds it after a 429 (a day, and the hour a DST
// change adds).
const maxRetryAfter = 25 * time.Hour

// DefaultBackoff: 30 s, doubling, at most 30 min, 5 attempts.
var DefaultBackoff = Backoff{Base: 30 * time.Second, Cap: 30 * time.Minute, MaxAttempts: 5}

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = DefaultBackoff.Base
	}
	if b.Cap <= 0 {
		b.Cap = DefaultBackoff.Cap
	}
	if b.MaxAttempts <= 0 {
		b.MaxAttempts = DefaultBackoff.MaxAttempts
	}
	return b
}

// Validate names every bad field (path prefixes them, e.g. "worker.backoff").
func (b Backoff) Validate(path string) error {
	switch {
	case b.Base < 0:
		return fmt.Errorf("%s.base: must not be negative, got %s", path, b.Base)
	case b.Cap < 0:
		return fmt.Errorf("%s.cap: must not be negative, got %s", path, b.Cap)
	case b.Cap > 0 && b.Base > b.Cap:
		return fmt.Errorf("%s.base: must not exceed cap %s, got %s", path, b.Cap, b.Base)
	case b.MaxAttempts < 0:
		return fmt.Errorf("%s.max_attempts: must not be negative, got %d", path, b.MaxAttempts)
	}
	return nil
}

// Ceiling is the upper bound of the delay after attempt n (1-based):
// min(Cap, Base * 2^(n-1)).
func (b Backoff) Ceiling(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := b.Base
	for i := 1; i < n; i++ {
		if d >= b.Cap/2 {
			return b.Cap
		}
		d *= 2
	}
	return min(d, b.Cap)
}

// Delay is the full-jitter delay after attempt n: uniform in [0, Ceiling(n))
// given r uniform in [0, 1).
func (b Backoff) Delay(n int, r float64) time.Duration {
	if r < 0 {
		r = 0
	}
	if r >= 1 {
		r = 0.999999
	}
	return time.Duration(float64(b.Ceiling(n)) * r)
}
