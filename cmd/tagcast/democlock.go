package main

import (
	"context"
	"sync"
	"time"
)

// demoClock is the demo's simulated clock: real time plus an offset that
// only grows. It runs at real speed, and the demo jumps it ahead when every
// remaining send waits for a quota window, so a deferred send is shown being
// sent without waiting an hour. The emulator, the quota guard, the worker,
// the scheduler and the admin API all read it. It satisfies roleClock.
type demoClock struct {
	mu      sync.Mutex
	offset  time.Duration
	changed chan struct{} // closed and replaced at every jump
}

// newDemoClock is a clock that reads start now.
func newDemoClock(start time.Time) *demoClock {
	return &demoClock{offset: time.Until(start), changed: make(chan struct{})}
}

// Now is the simulated instant.
func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Jump moves the clock d forward (d <= 0 does nothing) and wakes every
// waiter.
func (c *demoClock) Jump(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.offset += d
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *demoClock) state() (time.Time, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset), c.changed
}

// Wait blocks until the clock reads at least until (by passing time or a
// jump), at most maxWait of real time, or until ctx ends (worker.Clock).
func (c *demoClock) Wait(ctx context.Context, until time.Time, maxWait time.Duration) (bool, error) {
	deadline := time.Now().Add(maxWait)
	for {
		now, changed := c.state()
		if !now.Before(until) {
			return true, nil
		}
		d := min(until.Sub(now), time.Until(deadline))
		if d <= 0 {
			return false, nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-changed:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		}
	}
}

// After delivers the simulated time once it has moved d past the call (by
// passing time or a jump), at most d of real time (scheduler.Clock).
func (c *demoClock) After(d time.Duration) <-chan time.Time {
	out := make(chan time.Time, 1)
	until := c.Now().Add(d)
	go func() {
		_, _ = c.Wait(context.Background(), until, d)
		out <- c.Now()
	}()
	return out
}
