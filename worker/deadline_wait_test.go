package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/worker"
)

// realTimeClock behaves as worker.RealClock does, on e's simulated
// instant: Wait blocks for the real time until the instant waited for (at
// most maxWait), then moves the simulated clock there; it returns early,
// with ctx's error, when ctx ends first. (fakeClock never blocks, so a
// task whose deadline passes during an inline wait cannot show with it.)
type realTimeClock struct{ c *fakeClock }

func (r realTimeClock) Now() time.Time { return r.c.Now() }

func (r realTimeClock) Wait(ctx context.Context, until time.Time, maxWait time.Duration) (bool, error) {
	d := until.Sub(r.c.Now())
	if d <= 0 {
		return true, nil
	}
	reached := d <= maxWait
	t := time.NewTimer(min(d, maxWait))
	defer t.Stop()
	select {
	case <-t.C:
		if reached {
			r.c.Set(until)
		}
		return reached, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// TestInlineWaitNeverRunsIntoTheTaskDeadline: asynq gives a run
// task a deadline (queue.Options.Timeout) and, the moment it passes,
// counts the task as FAILED with context.DeadlineExceeded, whatever the
// handler returns afterwards (processor.exec selects on ctx.Done()). The
// handler checks AttemptBudget before an attempt, but not before an inline
// wait: a run that has little task time left (after earlier sends of a
// long run, say) and must wait a few seconds (its instant, a quota window
// opening, a live lease, a next attempt: anything within InlineWait) waits
// inline into the deadline and ends in a failure: a retry of the task's
// budget spent and asynq's failure delay, though "waiting never burns
// retries" (doc.go, snooze.go). It should snooze instead, before the
// deadline.
func TestInlineWaitNeverRunsIntoTheTaskDeadline(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	at := t0.Add(5 * time.Second) // within InlineWait (10 s): waited inline
	ids := fire(t, e.ctx, e.store, 1, body(), at, t0, 0)
	h, err := worker.NewHandler(worker.Deps{
		Store: e.store, Guard: e.guard, Pushers: map[string]worker.Pusher{testApp: e.client},
		Clock: realTimeClock{c: e.clock}, Logger: testLogger(t),
	}, worker.Config{Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// The task has 300 ms left of its timeout.
	ctx, cancel := context.WithTimeout(e.ctx, 300*time.Millisecond)
	defer cancel()
	err = h.ProcessRun(ctx, ids[0])
	endedBeforeDeadline := ctx.Err() == nil
	var sn *worker.Snooze
	if !errors.As(err, &sn) {
		t.Errorf("ProcessRun = %v (IsFailure %v); want a *worker.Snooze: waiting must not fail the task", err, worker.IsFailure(err))
	}
	if !endedBeforeDeadline {
		t.Errorf("ProcessRun returned after the task's deadline: asynq has already counted the task as failed (%v)", context.DeadlineExceeded)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 0 {
		t.Errorf("%d pushes before the run's instant", n)
	}
}
