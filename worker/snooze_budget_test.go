package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/scheduler"
	"github.com/tagcast/tagcast/worker"
)

// failFirstGetRun is the store with its first GetRun failing (a passing
// database error).
type failFirstGetRun struct {
	worker.Store
	calls atomic.Int32
}

func (s *failFirstGetRun) GetRun(ctx context.Context, id int64) (campaign.Run, []campaign.Send, error) {
	if s.calls.Add(1) == 1 {
		return campaign.Run{}, nil, errors.New("database unavailable (injected)")
	}
	return s.Store.GetRun(ctx, id)
}

// TestSnoozeAfterTheRetryBudgetIsRecovered: a snooze does not spend the
// task's retry budget, but asynq v0.26 archives a task that returns any
// error once its failures reached MaxRetry, before it asks IsFailure. So a
// run whose task failed MaxRetry times (store errors) and that now only has
// to wait (its instant, the quota) is archived as "retries exhausted". It is
// not lost: the reconciler's next pass gives the open run a fresh task with
// a fresh budget, which then snoozes as it should.
func TestSnoozeAfterTheRetryBudgetIsRecovered(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	store := &failFirstGetRun{Store: e.store}
	h, err := worker.NewHandler(worker.Deps{
		Store: store, Guard: e.guard, Pushers: map[string]worker.Pusher{testApp: e.client}, Clock: e.clock, Logger: testLogger(t),
	}, worker.Config{Lease: time.Minute, InlineWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := worker.NewServer(e.rdb, h, worker.ServerConfig{Concurrency: 1, TaskCheckInterval: 20 * time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// The run is due in an hour (the clock does not move): it can only snooze.
	ids := fire(t, e.ctx, e.store, 1, body(), t0.Add(time.Hour), t0, 0)
	if _, err := queue.Enqueue(e.ctx, asynq.NewClientFromRedisClient(e.rdb), queue.RunSendPayload{RunID: ids[0]}, time.Time{}, queue.Options{MaxRetry: 1}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Shutdown() }()
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	state := func(want ...asynq.TaskState) *asynq.TaskInfo {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			info, err := insp.GetTaskInfo(queue.DefaultQueue, queue.TaskID(ids[0]))
			if err == nil && info.State != asynq.TaskStateActive && info.State != asynq.TaskStatePending {
				return info
			}
			if time.Now().After(deadline) {
				t.Fatalf("task still %v after 20 s (%v)", info, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// First delivery: the store error is a failure (retried 1 of 1).
	info := state()
	if info.State != asynq.TaskStateRetry || info.Retried != 1 {
		t.Fatalf("after the store error: task %s, retried %d; want retry, 1", info.State, info.Retried)
	}
	if err := insp.RunTask(queue.DefaultQueue, info.ID); err != nil { // deliver it now, not in 15-45 s
		t.Fatal(err)
	}
	for store.calls.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	// Second delivery: the run only waits for its instant, but its budget
	// is spent: asynq archives the task.
	info = state()
	if info.State != asynq.TaskStateArchived {
		t.Fatalf("after a snooze with the budget spent: task %s (last error %q); asynq v0.26 archives it", info.State, info.LastErr)
	}
	// The reconciler revives it with a fresh budget; it then snoozes.
	rec, err := scheduler.NewReconciler(scheduler.ReconcilerConfig{Store: e.store, Queue: asynq.NewClientFromRedisClient(e.rdb),
		Inspector: insp, QueueOptions: queue.Options{MaxRetry: 1}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rec.Tick(e.ctx)
	if err != nil || res.Archived != 1 {
		t.Fatalf("reconcile: %+v %v, want the archived task of the open run revived", res, err)
	}
	info = state()
	if info.State != asynq.TaskStateRetry || info.Retried != 0 {
		t.Errorf("revived task: %s retried %d (last error %q), want snoozed (retry) with nothing spent", info.State, info.Retried, info.LastErr)
	}
	// Delivered and snoozed (the revived task carries the run's hints, so
	// it waits for the instant without reading the run).
	if !strings.Contains(info.LastErr, "snoozed") || !strings.Contains(info.LastErr, "scheduled") {
		t.Errorf("revived task's last error %q, want its snooze for the scheduled instant", info.LastErr)
	}
}
