package scheduler

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
)

// The scheduler runs on an injected Clock (the simulated clock of the e2e
// suite and of the demo, which run hours or days ahead of the wall clock),
// but asynq schedules on the wall clock. flushHeld must give asynq the held
// run's distance from now: its instant on a clock ahead of the wall clock
// scheduled the task that far into the real future, and the reconciler,
// which counts a scheduled task as live, left it there.
func TestFlushedRunIsDueOnTheSchedulersClock(t *testing.T) {
	t.Parallel()
	// The scheduler's clock stands 30 days ahead of the wall clock.
	start := time.Now().UTC().Add(30 * 24 * time.Hour).Truncate(time.Second)
	b := setupReconcile(t, sqliteURL(t), start, nil)
	client, _ := newAsynq(t, b.redis)
	s, err := New(Config{Store: b.store, Queue: client, Inspector: b.inspector, Clock: b.clock, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	at := start.Add(1500 * time.Millisecond)
	c := create(t, b.store, newCampaign("soon", campaign.Schedule{At: &at}), start)
	if res, err := s.Tick(b.ctx); err != nil || res.Held != 1 {
		t.Fatalf("tick: %+v %v; want the run held", res, err)
	}
	s.flushHeld() // a graceful stop
	run := runsOf(t, b.store, c.ID)[0]

	wall := time.Now()
	info, err := b.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(run.ID))
	if err != nil {
		t.Fatalf("run %d: no task after the flush: %v", run.ID, err)
	}
	// Due 1.5 s after the scheduler's now: processable within a few
	// seconds of real time.
	if limit := wall.Add(5 * time.Second); info.State == asynq.TaskStateScheduled && info.NextProcessAt.After(limit) {
		t.Errorf("run %d, due %s after the scheduler's now, was flushed as a task processable only at %s (wall clock %s): %s late",
			run.ID, at.Sub(start), info.NextProcessAt.UTC().Format(time.RFC3339), wall.UTC().Format(time.RFC3339),
			info.NextProcessAt.Sub(wall).Round(time.Second))
	}

	// Restarted a minute later on the scheduler's clock: the reconciler
	// leaves the far-future task alone.
	b.clock.Set(at.Add(time.Minute))
	res := b.reconcile(t)
	info, err = b.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(run.ID))
	if err == nil && info.State == asynq.TaskStateScheduled && info.NextProcessAt.After(time.Now().Add(5*time.Second)) {
		t.Errorf("a minute past the run's instant, reconcile %+v leaves its only task scheduled for %s",
			res, info.NextProcessAt.UTC().Format(time.RFC3339))
	}
}
