package worker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// Snooze is the handler's answer when a run must wait: the quota window is
// closed, the scheduled instant or a send's next attempt is not reached, a
// send is held by another worker, or the server is shutting down. asynq
// reschedules the task after Delay without counting a retry (IsFailure is
// false for it), so waiting never spends the task's retry budget. One
// exception, asynq's: a task whose failures already reached MaxRetry is
// archived whatever it returns, a snooze included; the reconciler then gives
// the open run a fresh task (TestSnoozeAfterTheRetryBudgetIsRecovered).
type Snooze struct {
	RunID int64
	// Until is the instant (on the worker's clock) the run waits for.
	Until time.Time
	// Delay is the real time asynq waits before delivering the task again.
	Delay time.Duration
	// Reason says what the run waits for ("quota", "scheduled", ...).
	Reason string
}

func (s *Snooze) Error() string {
	return fmt.Sprintf("run %d: snoozed %s (%s until %s)", s.RunID, s.Delay, s.Reason, s.Until.UTC().Format(time.RFC3339Nano))
}

// MinSnooze is the shortest snooze: asynq schedules in whole seconds.
const MinSnooze = time.Second

// IsFailure is asynq's Config.IsFailure: a *Snooze is not a failure.
func IsFailure(err error) bool {
	var s *Snooze
	return err != nil && !errors.As(err, &s)
}

// MaxFailureDelay caps the delay before a failed run task (a store or
// Redis error) is tried again. asynq's default grows as n⁴ seconds: after a
// store outage of an hour a run would wait hours more in retry, and the
// reconciler counts a retrying task as live. A run's retry is one read when
// the store is still down, so a minute costs nothing.
const MaxFailureDelay = time.Minute

// RetryDelay is asynq's Config.RetryDelayFunc: a *Snooze's own delay, or
// asynq's default exponential delay for a real failure, capped near
// MaxFailureDelay (from half of it to all of it, at random, so that the
// tasks of one outage do not all come back at once).
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var s *Snooze
	if errors.As(err, &s) {
		return max(s.Delay, MinSnooze)
	}
	if d := asynq.DefaultRetryDelayFunc(n, err, t); d < MaxFailureDelay/2 {
		return d
	}
	return MaxFailureDelay/2 + rand.N(MaxFailureDelay/2+1)
}
