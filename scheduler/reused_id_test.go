package scheduler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// fixedWorkerClock is a worker clock standing at one instant (after the
// run's instant: the worker never waits).
type fixedWorkerClock struct{ t time.Time }

func (c fixedWorkerClock) Now() time.Time { return c.t }
func (c fixedWorkerClock) Wait(_ context.Context, until time.Time, _ time.Duration) (bool, error) {
	return !c.t.Before(until), nil
}

// unusedGuard is a worker guard that must never be used: the run of the
// task it serves is gone, so the worker reserves nothing.
type unusedGuard struct{}

var errUnusedGuard = errors.New("the guard was used")

func (unusedGuard) ReserveFor(context.Context, string, quota.Waiter) (quota.Reservation, error) {
	return quota.Reservation{}, errUnusedGuard
}
func (unusedGuard) Queue(context.Context, string, quota.Waiter, time.Duration) error {
	return errUnusedGuard
}
func (unusedGuard) Unqueue(context.Context, string, string) error    { return errUnusedGuard }
func (unusedGuard) Release(context.Context, quota.Reservation) error { return errUnusedGuard }
func (unusedGuard) Held(context.Context, quota.Reservation) (bool, error) {
	return false, errUnusedGuard
}
func (unusedGuard) BlockRateLimited(context.Context, string, time.Duration) (time.Time, error) {
	return time.Time{}, errUnusedGuard
}
func (unusedGuard) HoldFor(context.Context, string, time.Duration) (time.Time, error) {
	return time.Time{}, errUnusedGuard
}
func (unusedGuard) Status(context.Context, string) (quota.Status, error) {
	return quota.Status{}, errUnusedGuard
}

// On SQLite, runs.id is an INTEGER PRIMARY KEY without AUTOINCREMENT: a
// deleted row's id is given again to the next row inserted. Pause deletes a
// run claimed ahead; the real worker then completes that run's task (run
// gone: nil), and asynq keeps the completed task, and so its TaskID
// run:<id>, for its 24 h retention. Resumed within MissedAfter, the
// campaign fires the same instant again into a new run with the same id:
// the scheduler, given the Inspector as serve wires it, replaces the
// completed task. Without it the fire waited for the reconciler's next
// pass.
func TestAReusedRunIDGetsALiveTask(t *testing.T) {
	t.Parallel()
	at := utc("2026-12-01T09:00:00Z")
	b := setupReconcile(t, sqliteURL(t), at.Add(-time.Hour), nil)
	st := b.store.(*sqlstore.Store)
	c, err := b.ops.Create(b.ctx, validated(t, newCampaign("daily", campaign.Schedule{Cron: "0 9 * * *"}), b.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	b.tick(t, at.Add(-1500*time.Millisecond)) // claimed ahead, held
	b.tick(t, at.Add(-400*time.Millisecond))  // released to the queue
	runs := runsOf(t, b.store, c.ID)
	if len(runs) != 1 || !b.hasTask(t, runs[0].ID) {
		t.Fatalf("before the pause: runs %v; want the 09:00 run, queued", scheduledFor(runs))
	}
	deleted := runs[0].ID

	b.clock.Set(at.Add(-300 * time.Millisecond))
	if _, err := b.ops.Pause(b.ctx, c.ID); err != nil {
		t.Fatal(err)
	}

	// The real worker processes the task of the deleted run.
	h, err := worker.NewHandler(worker.Deps{Store: st, Guard: unusedGuard{}, Clock: fixedWorkerClock{at.Add(time.Second)}, Logger: zerolog.Nop()},
		worker.Config{Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: b.redis.Addr}, asynq.Config{
		Concurrency: 1, Queues: map[string]int{queue.DefaultQueue: 1}, LogLevel: asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.Handle(queue.TypeRunSend, h)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := b.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(deleted))
		if err == nil && info.State == asynq.TaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task of the deleted run %d: %v, %v; want completed", deleted, info, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Shutdown()

	// Resumed 5 s after the instant (within MissedAfter): the fire is late,
	// and goes out once.
	b.clock.Set(at.Add(5 * time.Second))
	if _, err := b.ops.Resume(b.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	b.tick(t, at.Add(5*time.Second))
	runs = runsOf(t, b.store, c.ID)
	if diff := cmp.Diff(times("2026-12-01T09:00:00Z"), scheduledFor(runs)); diff != "" {
		t.Fatalf("after resume (-want +got):\n%s", diff)
	}
	fresh := runs[0]
	info, err := b.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(fresh.ID))
	if err != nil {
		t.Fatalf("run %d after resume: no task (%v)", fresh.ID, err)
	}
	if info.State == asynq.TaskStateCompleted {
		t.Errorf("run %d (the deleted run had id %d) is pending and marked enqueued (%v), but its only task is the deleted run's "+
			"completed one (TaskID %s kept for its retention): nothing will process it before the reconciler revives it",
			fresh.ID, deleted, fresh.EnqueuedAt != nil, info.ID)
		res := b.reconcile(t)
		t.Logf("the reconciler's next pass: %+v", res)
	}
}

// Create rounds a schedule's end UP to the microsecond. Fires are whole
// microseconds: the schedule as validated fires at 09:00:00 on Dec 3,
// before its end (09:00:00.0000005), and so does the stored one. Rounded
// down, the end fell on that fire and dropped it.
func TestASubMicrosecondEndKeepsItsLastFire(t *testing.T) {
	t.Parallel()
	now := utc("2026-12-01T08:00:00Z")
	end := time.Date(2026, 12, 3, 9, 0, 0, 500, time.UTC)
	b := setup(t, now, Config{})
	c := validated(t, newCampaign("daily", campaign.Schedule{Cron: "0 9 * * *", End: &end}), now)
	if next, ok, err := c.Schedule.NextAfter(utc("2026-12-02T09:00:00Z")); err != nil || !ok || !next.Equal(utc("2026-12-03T09:00:00Z")) {
		t.Fatalf("validated schedule: next after Dec 2 09:00 = %s, %v, %v; want Dec 3 09:00 (before its end)", next, ok, err)
	}
	c = create(t, b.store, c, now)
	for step := now; step.Before(now.Add(4 * 24 * time.Hour)); step = step.Add(30 * time.Minute) {
		b.tickAt(t, step)
	}
	want := times("2026-12-01T09:00:00Z", "2026-12-02T09:00:00Z", "2026-12-03T09:00:00Z")
	if diff := cmp.Diff(want, scheduledFor(runsOf(t, b.store, c.ID))); diff != "" {
		t.Errorf("fires (-want +got):\n%s", diff)
	}
}
