package worker

import (
	"errors"
	"fmt"
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

// RetryDelay is asynq's Config.RetryDelayFunc: a *Snooze's own delay, or
// asynq's default exponential delay for a real failure (a store or Redis
// error).
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var s *Snooze
	if errors.As(err, &s) {
		return max(s.Delay, MinSnooze)
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}
