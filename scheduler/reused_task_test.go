package scheduler

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
)

// On SQLite a deleted run's id is given to the next run, and the TaskID is
// only the run id. A scheduler stopping with a run claimed ahead enqueues it
// with ProcessAt = its instant (flushHeld); pausing that campaign then
// deletes the run but not its task. The next run created (another campaign,
// due now) gets the same id. Its enqueue must replace the stale scheduled
// task (whose hints name the other run) rather than take it for its own: it
// used to answer "already queued", and the new run went out at the deleted
// run's instant, late by up to the lookahead (found by a review).
func TestReusedRunIDReplacesAnotherRunsScheduledTask(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T09:58:00Z")
	b := setupReconcile(t, sqliteURL(t), start, nil)
	client, _ := newAsynq(t, b.redis)
	newSched := func() *Scheduler {
		s, err := New(Config{Store: b.store, Queue: client, Inspector: b.inspector, Clock: b.clock,
			Logger: zerolog.Nop(), Interval: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// Scheduler 1 claims campaign A's 10:00 fire ahead, then stops: the
	// held run goes to asynq as a scheduled task for 10:00.
	atA := utc("2026-12-01T10:00:00Z")
	a, err := b.ops.Create(b.ctx, validated(t, newCampaign("a", campaign.Schedule{At: &atA}), start))
	if err != nil {
		t.Fatal(err)
	}
	s1 := newSched()
	if res, err := s1.Tick(b.ctx); err != nil || res.Held != 1 {
		t.Fatalf("tick: %+v %v; want A's run held", res, err)
	}
	deleted := runsOf(t, b.store, a.ID)[0].ID
	s1.flushHeld()
	if info, err := b.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(deleted)); err != nil || info.State != asynq.TaskStateScheduled {
		t.Fatalf("A's task after the flush: %v %v; want scheduled", info, err)
	}

	// A is paused before its instant: its run is deleted, its task stays.
	b.clock.Set(start.Add(10 * time.Second))
	if _, err := b.ops.Pause(b.ctx, a.ID); err != nil {
		t.Fatal(err)
	}

	// Campaign B, due now, fires on a new scheduler.
	atB := start.Add(10 * time.Second)
	bc, err := b.ops.Create(b.ctx, validated(t, newCampaign("b", campaign.Schedule{At: &atB}), atB))
	if err != nil {
		t.Fatal(err)
	}
	s2 := newSched()
	if res, err := s2.Tick(b.ctx); err != nil || res.Fired != 1 || res.Enqueued != 1 {
		t.Fatalf("tick for B: %+v %v", res, err)
	}
	runB := runsOf(t, b.store, bc.ID)[0]
	if runB.ID != deleted {
		t.Fatalf("B's run got id %d, not the deleted run's %d: SQLite no longer reuses ids, and this test no longer shows the case", runB.ID, deleted)
	}
	res := b.reconcile(t)
	info, err := b.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(runB.ID))
	if err != nil {
		t.Fatalf("B's run %d has no task: %v", runB.ID, err)
	}
	due := campaign.CeilSecond(runB.ScheduledFor)
	if info.State == asynq.TaskStateScheduled && info.NextProcessAt.After(due) {
		t.Errorf("run %d (campaign B, due %s) is enqueued_at=%v, but its only task is the deleted run's, "+
			"state %s, next process at %s: %s late; reconciler pass %+v left it so",
			runB.ID, runB.ScheduledFor.Format(time.TimeOnly), runB.EnqueuedAt != nil, info.State,
			info.NextProcessAt.UTC().Format(time.TimeOnly), info.NextProcessAt.Sub(runB.ScheduledFor), res)
	}
}
