package scheduler

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
)

// Edges found by a review of the reconciler (a run id SQLite reused after a
// pause deleted a run, and runs handed to Redis at a stop); each test failed
// on the code before its fix, and its comment says what the code did then. asynq schedules on the wall clock while the scheduler runs
// on the simulated one, so a task's instant is compared with the wall clock
// plus the run's distance on the simulated clock, with tens of seconds of
// margin either way (no timing assertion).

// handoverScheduler is a scheduler on b's store, Redis and clock with a one
// minute interval (so a two minute lookahead). inspect says whether it is
// given the Inspector (Config.Inspector is optional).
func handoverScheduler(t *testing.T, b rbundle, inspect bool) *Scheduler {
	t.Helper()
	client, _ := newAsynq(t, b.redis)
	cfg := Config{Store: b.store, Queue: client, Clock: b.clock, Logger: zerolog.Nop(), Interval: time.Minute}
	if inspect {
		cfg.Inspector = b.inspector
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// heldAhead starts a scheduler (with the Inspector) at 08:58:00 and one
// campaign due 90 s later, whose fire its first tick claims ahead and holds.
func heldAhead(t *testing.T) (rbundle, *Scheduler, campaign.Campaign, time.Time) {
	t.Helper()
	start := utc("2026-12-01T08:58:00Z")
	b := setupReconcile(t, sqliteURL(t), start, nil)
	s := handoverScheduler(t, b, true)
	at := start.Add(90 * time.Second)
	c := create(t, b.store, newCampaign("a", campaign.Schedule{At: &at}), start)
	if res, err := s.Tick(b.ctx); err != nil || res.Held != 1 {
		t.Fatalf("tick: %+v %v; want the fire claimed ahead and held", res, err)
	}
	return b, s, c, at
}

// taskOfRun returns run id's task and its decoded payload.
func (b rbundle) taskOfRun(t *testing.T, id int64) (*asynq.TaskInfo, queue.RunSendPayload) {
	t.Helper()
	info, err := b.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(id))
	if err != nil {
		t.Fatalf("run %d: no task: %v", id, err)
	}
	p, err := queue.DecodeRunSend(info.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return info, p
}

// Was: the reconciler takes any scheduled or retry task under a run's id as
// that run's live task, even when its hints name another run (SQLite gives
// a paused run's deleted id to the next run). checkRun never applies
// staleTask, which only the enqueue path uses.
//
// Campaign A's fire at 08:59:50 is claimed ahead and flushed at a stop as a
// task scheduled for 08:59:50. A is paused (its run deleted, its task left).
// Campaign B, due 08:58:20, gets the deleted run's id; its scheduler has no
// Inspector (optional, "without it, that run waits for the reconciler's
// next pass"; serve's scheduler answers the same when its DeleteTask of
// the stale task fails, enqueue.go:82-84) and records B enqueued. The
// reconciler's pass at 08:58:25 leaves A's task: B goes out at 08:59:50, 90 s
// late, and every later pass leaves it too.
func TestReconcilerReplacesAnotherRunsScheduledTask(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T08:58:00Z")
	b := setupReconcile(t, sqliteURL(t), start, nil)

	atA := start.Add(110 * time.Second)
	a, err := b.ops.Create(b.ctx, validated(t, newCampaign("a", campaign.Schedule{At: &atA}), start))
	if err != nil {
		t.Fatal(err)
	}
	s1 := handoverScheduler(t, b, true)
	if res, err := s1.Tick(b.ctx); err != nil || res.Held != 1 {
		t.Fatalf("tick: %+v %v; want A's fire claimed ahead and held", res, err)
	}
	deleted := runsOf(t, b.store, a.ID)[0].ID
	s1.flushHeld() // a graceful stop: A's run is handed to asynq for 08:59:50

	b.clock.Set(start.Add(10 * time.Second))
	if _, err := b.ops.Pause(b.ctx, a.ID); err != nil {
		t.Fatal(err)
	}

	atB := start.Add(20 * time.Second)
	bc, err := b.ops.Create(b.ctx, validated(t, newCampaign("b", campaign.Schedule{At: &atB}), b.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Set(atB)
	if res, err := handoverScheduler(t, b, false).Tick(b.ctx); err != nil || res.Fired != 1 || res.Enqueued != 1 {
		t.Fatalf("tick for B: %+v %v", res, err)
	}
	runB := runsOf(t, b.store, bc.ID)[0]
	if runB.ID != deleted {
		t.Fatalf("B's run has id %d, not the deleted run's %d: SQLite no longer reuses ids, this test no longer shows the case", runB.ID, deleted)
	}

	b.clock.Set(atB.Add(5 * time.Second))
	res := b.reconcile(t)
	info, p := b.taskOfRun(t, runB.ID)
	if limit := time.Now().Add(10 * time.Second); info.State != asynq.TaskStatePending && info.NextProcessAt.After(limit) {
		t.Errorf("run %d (campaign B, due %s, now %s): after a reconcile pass (%+v) its only task is campaign A's "+
			"(hints %s %s), %s until %s, %s from now: want B's run processable now",
			runB.ID, runB.ScheduledFor.Format(time.TimeOnly), b.clock.Now().Format(time.TimeOnly), res,
			p.App, p.ScheduledFor.Format(time.TimeOnly), info.State, info.NextProcessAt.UTC().Format(time.TimeOnly),
			time.Until(info.NextProcessAt).Round(time.Second))
	}
}

// Was: a graceful stop hands over a held run a pause deleted, and when its
// id now belongs to another held run (SQLite), that stale enqueue replaces
// the other run's task: staleTask compares the hints of the task found with
// the payload being enqueued, and takes the one being enqueued for current,
// though its run is gone. The run that lives goes out at the deleted run's
// instant. flushHeld walks the heap's array, earliest run first, so the
// earlier run's task is always the one replaced.
//
// A's 08:59:50 fire is claimed ahead (held); A is paused (run deleted); B's
// 08:58:40 fire is claimed ahead with the same run id (held); the scheduler
// stops at 08:58:20. B's run is left with A's task, scheduled 90 s from
// now instead of 20 s. (With a Redis flush before B's instant, or before a
// reconcile pass sees it, nothing else corrects it: see the test above.)
func TestFlushHeldKeepsTheTaskOfTheRunThatReusedADeletedRunsID(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T08:58:00Z")
	b := setupReconcile(t, sqliteURL(t), start, nil)
	s := handoverScheduler(t, b, true)

	atA := start.Add(110 * time.Second)
	a, err := b.ops.Create(b.ctx, validated(t, newCampaign("a", campaign.Schedule{At: &atA}), start))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Tick(b.ctx); err != nil || res.Held != 1 {
		t.Fatalf("tick: %+v %v; want A's fire held", res, err)
	}
	deleted := runsOf(t, b.store, a.ID)[0].ID
	b.clock.Set(start.Add(10 * time.Second))
	if _, err := b.ops.Pause(b.ctx, a.ID); err != nil {
		t.Fatal(err)
	}

	atB := start.Add(40 * time.Second)
	bc, err := b.ops.Create(b.ctx, validated(t, newCampaign("b", campaign.Schedule{At: &atB}), b.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Set(start.Add(20 * time.Second))
	if res, err := s.Tick(b.ctx); err != nil || res.Held != 1 {
		t.Fatalf("tick: %+v %v; want B's fire held", res, err)
	}
	runB := runsOf(t, b.store, bc.ID)[0]
	if runB.ID != deleted {
		t.Fatalf("B's run has id %d, not the deleted run's %d: SQLite no longer reuses ids, this test no longer shows the case", runB.ID, deleted)
	}

	wall := time.Now()
	s.flushHeld() // graceful stop 20 s before B's instant
	info, p := b.taskOfRun(t, runB.ID)
	due := wall.Add(atB.Sub(b.clock.Now()))
	if info.NextProcessAt.After(due.Add(10 * time.Second)) {
		t.Errorf("run %d (campaign B, due in %s) after the stop: its task is %s with hints %s %s (campaign A's deleted run), "+
			"processable in %s: B goes out %s late",
			runB.ID, atB.Sub(b.clock.Now()), info.State, p.App, p.ScheduledFor.Format(time.TimeOnly),
			info.NextProcessAt.Sub(wall).Round(time.Second), info.NextProcessAt.Sub(due).Round(time.Second))
	}
}

// Was: a run claimed ahead and handed to asynq at a stop (enqueued_at set,
// task scheduled for its instant) whose task Redis then loses is re-enqueued
// by the reconciler for immediate processing, up to the lookahead (here 85 s)
// before its instant. RunsToEnqueue holds back runs not yet due, and the
// scheduler hands a run over only ReleaseLead (500 ms) early, which is what
// README's Clocks section bounds a fast worker clock's early start by ("up
// to those 500 ms"); here a worker whose clock runs 80 s ahead sends 80 s
// early.
func TestReconcilerDoesNotHandARunToWorkersBeforeItsInstant(t *testing.T) {
	t.Parallel()
	b, s, c, at := heldAhead(t)
	s.flushHeld() // a graceful stop: the run goes to asynq, scheduled for its instant
	run := runsOf(t, b.store, c.ID)[0]
	if info, _ := b.taskOfRun(t, run.ID); info.State != asynq.TaskStateScheduled {
		t.Fatalf("after the stop: task %s, want scheduled", info.State)
	}

	b.redis.Flush(t) // Redis restarted empty
	registerQueue(t, b.redis)
	b.clock.Set(at.Add(-85 * time.Second)) // 5 s after the start
	wall := time.Now()
	res := b.reconcile(t)
	left := at.Sub(b.clock.Now())
	info, err := b.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(run.ID))
	if err == nil && (info.State == asynq.TaskStatePending || info.NextProcessAt.Before(wall.Add(left-10*time.Second))) {
		t.Errorf("run %d due in %s: after the flush, reconcile %+v left its task %s, processable %s from now: "+
			"handed to workers %s before its instant", run.ID, left, res, info.State,
			max(info.NextProcessAt.Sub(wall), 0).Round(time.Second), left)
	}

	// Either way, the run must have a task by its instant.
	b.clock.Set(at)
	b.reconcile(t)
	if !b.hasTask(t, run.ID) {
		t.Errorf("run %d has no task at its instant", run.ID)
	}
}
