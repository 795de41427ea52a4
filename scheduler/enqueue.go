package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
)

// Inspector is the part of *asynq.Inspector the reconciler and the
// operations use to look at a run's task.
type Inspector interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
	DeleteTask(queue, id string) error
}

// enqueueResult says what happened to a run's task.
type enqueueResult int

const (
	enqueued      enqueueResult = iota + 1 // a new task is in the queue
	alreadyQueued                          // a live task for the run was there already
	revived                                // a finished task blocked the id: replaced by a new one
)

// taskQueue enqueues run tasks idempotently.
type taskQueue struct {
	client    queue.Enqueuer
	inspector Inspector // nil: conflicts are taken as "already queued"
	opts      queue.Options
	// runs reads the run the store holds under an id, before another
	// run's task is replaced (nil: not read).
	runs interface {
		GetRun(ctx context.Context, id int64) (campaign.Run, []campaign.Send, error)
	}
}

func (q taskQueue) queueName() string {
	if q.opts.Queue == "" {
		return queue.DefaultQueue
	}
	return q.opts.Queue
}

// taskOf is the task payload of run r, with its hints.
func taskOf(r campaign.Run) queue.RunSendPayload {
	return queue.RunSendPayload{RunID: r.ID, App: r.App, ScheduledFor: r.ScheduledFor}
}

// wallInstant is when asynq, which schedules on the wall clock, should hand
// over a run due at at on clock's time, lead before it as a held run is
// released; zero when that is now (processed at once, as the scheduler's
// release is). The clock may run apart from the wall (the simulated clocks
// of the e2e suite and the demo): asynq gets the distance from now, from a
// wall instant read after the clock's (so never earlier on the wall
// clock), rounded up to the second, since asynq keeps scheduled tasks by
// whole seconds and forwards one once its second has begun. The worker
// waits for the run's instant on its own clock in any case.
func wallInstant(clock Clock, at time.Time, lead time.Duration) time.Time {
	wait := at.Sub(clock.Now()) - lead
	if wait <= 0 {
		return time.Time{}
	}
	return campaign.CeilSecond(time.Now().Add(wait))
}

// enqueue hands run p.RunID to the queue, to be processed at processAt
// (zero: now). When a task with the run's id exists and an inspector is set, a
// finished one (completed, or archived when reviveArchived) cannot process
// the run again and is replaced; a live one is left alone.
func (q taskQueue) enqueue(ctx context.Context, p queue.RunSendPayload, processAt time.Time, reviveArchived bool) (enqueueResult, error) {
	runID := p.RunID
	ok, err := queue.Enqueue(ctx, q.client, p, processAt, q.opts)
	switch {
	case err != nil:
		return 0, err
	case ok:
		return enqueued, nil
	case q.inspector == nil:
		return alreadyQueued, nil
	}
	info, err := q.inspector.GetTaskInfo(q.queueName(), queue.TaskID(runID))
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		// Gone between the conflict and the look-up (retention ended): enqueue.
	case err != nil:
		return 0, fmt.Errorf("run %d: inspect task %s: %w", runID, queue.TaskID(runID), err)
	case info.State == asynq.TaskStateCompleted, reviveArchived && info.State == asynq.TaskStateArchived:
		if err := q.inspector.DeleteTask(q.queueName(), queue.TaskID(runID)); err != nil &&
			!errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			return 0, fmt.Errorf("run %d: delete %s task %s: %w", runID, info.State, queue.TaskID(runID), err)
		}
	case staleTask(info, p):
		// Another run's task under this id (SQLite gives a deleted run's
		// id to the next run), waiting for that run's instant: this run
		// would go out at it, late. A task that became active meanwhile
		// processes this run anyway (its hints no longer match, so the
		// worker reads the run from the store). Unless p is the stale one:
		// a run a pause deleted, enqueued by what still held it (a stop's
		// flush of the held runs), whose id now is the waiting task's run.
		if q.runs != nil {
			cur, _, err := q.runs.GetRun(ctx, runID)
			switch {
			case errors.Is(err, campaign.ErrNotFound):
				return alreadyQueued, nil
			case err != nil:
				return 0, fmt.Errorf("run %d: read it before replacing task %s: %w", runID, queue.TaskID(runID), err)
			case cur.App != p.App || !cur.ScheduledFor.Equal(p.ScheduledFor):
				return alreadyQueued, nil
			}
		}
		if err := q.inspector.DeleteTask(q.queueName(), queue.TaskID(runID)); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return alreadyQueued, nil
		}
	default:
		return alreadyQueued, nil
	}
	ok, err = queue.Enqueue(ctx, q.client, p, processAt, q.opts)
	switch {
	case err != nil:
		return 0, err
	case ok:
		return revived, nil
	default:
		return alreadyQueued, nil // another replica re-enqueued it first
	}
}

// staleTask reports whether info, a task waiting under run p.RunID's id, is
// another run's: its hints differ from p's. It waits for that run's instant,
// not p's.
func staleTask(info *asynq.TaskInfo, p queue.RunSendPayload) bool {
	if info.State != asynq.TaskStateScheduled && info.State != asynq.TaskStateRetry {
		return false
	}
	old, err := queue.DecodeRunSend(info.Payload)
	return err == nil && old.Hinted() && p.Hinted() && (old.App != p.App || !old.ScheduledFor.Equal(p.ScheduledFor))
}
