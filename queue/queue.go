// Package queue is the task contract shared by the scheduler (which enqueues)
// and the worker (which processes): task type names, payloads, the TaskID
// scheme and the enqueue options.
//
// It knows nothing of the store or the push service. It must never hold
// scheduling state: the SQL store is the source of truth, and a task is only a
// wake-up call for a Run that already exists there.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hibiken/asynq"
)

// TypeRunSend is the task type that makes a worker send a Run's pending Sends.
const TypeRunSend = "run:send"

// DefaultQueue is the asynq queue runs are enqueued on.
const DefaultQueue = "tagcast"

// RunSendPayload is the payload of a TypeRunSend task.
type RunSendPayload struct {
	RunID int64 `json:"run_id"`
	// App and ScheduledFor are hints: the run's app and instant, which never
	// change once the run exists. With them a worker reserves the quota slot
	// and claims the run's first send without reading the run first (the
	// claim checks them again). Tasks without them, delivered well after
	// the run's instant, or whose run has started, are processed from the
	// store.
	App          string    `json:"app,omitempty"`
	ScheduledFor time.Time `json:"scheduled_for,omitzero"`
}

// Hinted reports whether the payload carries both hints.
func (p RunSendPayload) Hinted() bool { return p.App != "" && !p.ScheduledFor.IsZero() }

// TaskID is the asynq TaskID of the task for run id. asynq refuses a second
// task with the same id while the first is kept (pending, scheduled, active,
// retry, archived or within its retention), which makes enqueueing idempotent.
func TaskID(runID int64) string {
	return fmt.Sprintf("run:%d", runID)
}

// Options are the enqueue options of a run task.
type Options struct {
	// Queue is the asynq queue; DefaultQueue when empty.
	Queue string
	// Timeout bounds one processing attempt. asynq stores deadlines in whole
	// seconds, so it is rounded up to a whole second (minimum 1 s).
	Timeout time.Duration
	// MaxRetry is asynq's retry budget. It is at least 1: a worker snoozes a
	// run (quota window closed, scheduled instant not reached) by returning a
	// non-failure error, which asynq only reschedules while MaxRetry > 0.
	MaxRetry int
	// Retention keeps a completed task (and so its TaskID) for this long, so a
	// reconciler re-enqueueing a finished run is refused instead of re-running it.
	Retention time.Duration
}

// DefaultOptions are the options used when a field is left zero.
var DefaultOptions = Options{
	Queue:     DefaultQueue,
	Timeout:   5 * time.Minute,
	MaxRetry:  25,
	Retention: 24 * time.Hour,
}

func (o Options) withDefaults() Options {
	if o.Queue == "" {
		o.Queue = DefaultOptions.Queue
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultOptions.Timeout
	}
	if o.MaxRetry < 1 {
		o.MaxRetry = DefaultOptions.MaxRetry
	}
	if o.Retention <= 0 {
		o.Retention = DefaultOptions.Retention
	}
	return o
}

// TaskTimeout is the timeout a run task gets: Timeout, or the default,
// rounded up to a whole second. A worker must be able to start a send well
// within it.
func (o Options) TaskTimeout() time.Duration {
	return wholeSeconds(o.withDefaults().Timeout)
}

// wholeSeconds rounds d up to a whole number of seconds, at least one.
func wholeSeconds(d time.Duration) time.Duration {
	s := math.Ceil(d.Seconds())
	if s < 1 {
		s = 1
	}
	return time.Duration(s) * time.Second
}

// NewRunSendTask builds the task for run p.RunID.
func NewRunSendTask(p RunSendPayload, opts Options) (*asynq.Task, error) {
	if p.RunID <= 0 {
		return nil, fmt.Errorf("queue: run id must be positive, got %d", p.RunID)
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("queue: run %d: %w", p.RunID, err)
	}
	o := opts.withDefaults()
	return asynq.NewTask(TypeRunSend, payload,
		asynq.TaskID(TaskID(p.RunID)),
		asynq.Queue(o.Queue),
		asynq.Timeout(o.TaskTimeout()),
		asynq.MaxRetry(o.MaxRetry),
		asynq.Retention(o.Retention),
	), nil
}

// ParseRunSend decodes the payload of a TypeRunSend task.
func ParseRunSend(t *asynq.Task) (RunSendPayload, error) {
	if t.Type() != TypeRunSend {
		return RunSendPayload{}, fmt.Errorf("queue: task type %q, want %q", t.Type(), TypeRunSend)
	}
	return DecodeRunSend(t.Payload())
}

// DecodeRunSend decodes a TypeRunSend payload. run_id must decode; the
// hints are optional and only ever save a read, so hints that do not decode
// (another version's encoding, say) are dropped, not the task.
func DecodeRunSend(payload []byte) (RunSendPayload, error) {
	var raw struct {
		RunID        int64           `json:"run_id"`
		App          json.RawMessage `json:"app"`
		ScheduledFor json.RawMessage `json:"scheduled_for"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return RunSendPayload{}, fmt.Errorf("queue: %s payload: %w", TypeRunSend, err)
	}
	if raw.RunID <= 0 {
		return RunSendPayload{}, fmt.Errorf("queue: %s payload: run_id must be positive, got %d", TypeRunSend, raw.RunID)
	}
	p := RunSendPayload{RunID: raw.RunID}
	var app string
	var at time.Time
	if json.Unmarshal(raw.App, &app) == nil && json.Unmarshal(raw.ScheduledFor, &at) == nil {
		p.App, p.ScheduledFor = app, at
	}
	return p, nil
}

// Enqueuer is the part of *asynq.Client that Enqueue needs.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Enqueue enqueues run p.RunID to be processed at processAt (immediately
// when zero or past), never before it: asynq keeps a scheduled task's
// instant in whole seconds, rounded down, so processAt is rounded up to the
// second. It reports enqueued=false, err=nil when a task for the run
// already exists: enqueueing is idempotent.
func Enqueue(ctx context.Context, c Enqueuer, p RunSendPayload, processAt time.Time, opts Options) (enqueued bool, err error) {
	runID := p.RunID
	task, err := NewRunSendTask(p, opts)
	if err != nil {
		return false, err
	}
	var extra []asynq.Option
	if !processAt.IsZero() {
		at := processAt
		if now := time.Now(); at.After(now) {
			// asynq's score is the second, rounded down: round up.
			if at = at.Truncate(time.Second); at.Before(processAt) {
				at = at.Add(time.Second)
			}
		}
		extra = append(extra, asynq.ProcessAt(at))
	}
	_, err = c.EnqueueContext(ctx, task, extra...)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return false, nil
	default:
		return false, fmt.Errorf("queue: enqueue run %d: %w", runID, err)
	}
}
