package worker

import (
	"context"
	"time"
)

// Clock is the time the worker's logic runs on. Tests inject a simulated
// clock; production uses RealClock.
type Clock interface {
	// Now is the current instant.
	Now() time.Time
	// Wait blocks until the clock reads at least until, at most maxWait of
	// real time, or until ctx ends. It reports whether until was reached;
	// false with a nil error means maxWait passed first.
	Wait(ctx context.Context, until time.Time, maxWait time.Duration) (bool, error)
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Wait sleeps until until (capped at maxWait) or until ctx ends.
func (RealClock) Wait(ctx context.Context, until time.Time, maxWait time.Duration) (bool, error) {
	d := time.Until(until)
	if d <= 0 {
		return true, nil
	}
	reached := d <= maxWait
	if !reached {
		d = maxWait
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return reached && !time.Now().Before(until), nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
