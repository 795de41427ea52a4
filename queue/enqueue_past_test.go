package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/queue"
)

// captureEnqueuer records the options of an enqueue.
type captureEnqueuer struct{ opts []asynq.Option }

func (c *captureEnqueuer) EnqueueContext(_ context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	c.opts = opts
	return &asynq.TaskInfo{}, nil
}

// Enqueue's doc says "immediately when zero or past": the rounding up of a
// future processAt (asynq keeps whole seconds) must not turn a past instant
// of the last second into a future one, which asynq would schedule
// (forwarder: up to its poll interval more) instead of enqueueing it
// pending. A first version of the rounding did.
func TestEnqueuePastInstantIsNotRoundedIntoTheFuture(t *testing.T) {
	t.Parallel()
	now := time.Now()
	past := now.Truncate(time.Second).Add(time.Millisecond) // in the last second, before now
	if !past.Before(now) {
		past = now.Add(-time.Millisecond) // the clock read a whole second
	}
	c := &captureEnqueuer{}
	if _, err := queue.Enqueue(context.Background(), c, queue.RunSendPayload{RunID: 1}, past, queue.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, o := range c.opts {
		if o.Type() == asynq.ProcessAtOpt {
			if at := o.Value().(time.Time); at.After(now) {
				t.Errorf("processAt %s (past; now %s) enqueued as ProcessAt %s: a future instant, not immediately",
					past.Format("15:04:05.000"), now.Format("15:04:05.000"), at.Format("15:04:05.000"))
			}
		}
	}
}
