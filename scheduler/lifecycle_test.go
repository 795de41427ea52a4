package scheduler

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
)

// failMarkStore is the store with MarkRunsEnqueued failing (a passing
// database error, or the scheduler killed between its enqueue and its
// record: the task is in Redis, enqueued_at stays NULL).
type failMarkStore struct{ campaign.Store }

func (failMarkStore) MarkRunsEnqueued(context.Context, []int64, time.Time) error {
	return errors.New("database unavailable (injected)")
}

// cancelAfterEnqueue is the asynq client of a scheduler that is told to
// stop (SIGTERM: Run's context is cancelled) while it hands a run to Redis:
// the task is enqueued, then the context ends.
type cancelAfterEnqueue struct {
	queue.Enqueuer
	cancel context.CancelFunc
}

func (c cancelAfterEnqueue) EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := c.Enqueuer.EnqueueContext(ctx, task, opts...)
	c.cancel()
	return info, err
}

// A run enqueued but not recorded (enqueued_at NULL) and since started by a
// worker is in neither of the reconciler's lists unless openRuns checks
// running runs whatever their enqueued_at: once its task is lost (Redis
// flushed) it would stay running, its send in retry_wait, for ever.
//
// Two ways a run could be left enqueued but not recorded:
//   - "mark fails": MarkRunsEnqueued fails (a passing database error);
//   - "scheduler stopped": the scheduler is stopped (its Run context
//     cancelled) while enqueueAll hands the run to Redis. The mark now runs
//     on a context of its own, so this one records the run after all; the
//     reconciler must cope either way.
//
// Operations.Retry (its MarkRunEnqueued on the request's context) can
// leave the same state; the reconciler's staleSends re-enqueue now records
// enqueued_at.
func TestRunningRunWithoutEnqueuedAtIsReconciled(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"mark fails", "scheduler stopped"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			start := utc("2026-12-01T09:00:00Z")
			b := setupReconcile(t, sqliteURL(t), start, nil)
			client, _ := newAsynq(t, b.redis)
			tickCtx, cancel := context.WithCancel(b.ctx)
			defer cancel()
			cfg := Config{Store: b.store, Queue: client, Clock: b.clock, Logger: zerolog.Nop()}
			if how == "mark fails" {
				cfg.Store = failMarkStore{b.store}
			} else {
				cfg.Queue = cancelAfterEnqueue{Enqueuer: client, cancel: cancel}
			}
			sched, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			at := start.Add(time.Minute)
			c := create(t, b.store, newCampaign("a", campaign.Schedule{At: &at}), start)
			b.clock.Set(at)
			if res, err := sched.Tick(tickCtx); err != nil || res.Fired != 1 {
				t.Fatalf("tick: %+v %v", res, err)
			}
			run := runsOf(t, b.store, c.ID)[0]
			if !slices.Contains(queuedRunIDs(t, b.inspector), run.ID) {
				t.Fatalf("setup: run %d has no task in Redis", run.ID)
			}
			switch {
			case how == "scheduler stopped" && run.EnqueuedAt == nil:
				t.Errorf("stopped mid-tick, the scheduler did not record run %d enqueued (its task is in Redis)", run.ID)
			case how == "mark fails" && run.EnqueuedAt != nil:
				t.Fatalf("setup: want enqueued_at NULL, got %v", run.EnqueuedAt)
			}

			// A worker takes the task at once: its first attempt answers
			// 5xx, the send waits to retry, the run is running.
			sd, _, ok, err := b.store.ClaimFirstSend(b.ctx, run.ID, run.App, at, time.Minute)
			if err != nil || !ok {
				t.Fatalf("claim first send: %v %v", ok, err)
			}
			if _, err := b.store.RecordOutcome(b.ctx, sd.Token(), campaign.Outcome{Status: campaign.SendRetryWait, Code: 500,
				Message: "HTTP 500", NextAttempt: at.Add(30 * time.Second), At: at, KeepsQuota: true}); err != nil {
				t.Fatal(err)
			}

			// The task, snoozed until the retry, is lost with Redis's data.
			b.redis.Flush(t)
			for i := range 5 {
				b.clock.Set(at.Add(time.Duration(i+1) * time.Minute))
				b.reconcile(t)
			}
			registerQueue(t, b.redis)
			got, _, err := b.store.GetRun(b.ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(queuedRunIDs(t, b.inspector), run.ID) {
				t.Errorf("run %d is %s with enqueued_at %v and no task after 5 reconcile passes: nobody will ever process it",
					run.ID, got.Status, got.EnqueuedAt)
			}
		})
	}
}
