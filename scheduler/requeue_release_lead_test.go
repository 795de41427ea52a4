package scheduler

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/queue"
)

// Found by a review of a19b5a8; failed before its fix. The reconciler now re-enqueues a run not yet due "at
// its instant, as the scheduler would" (wallInstant: asynq's ProcessAt, the
// wall instant rounded up to the second). The scheduler does not hand a run
// over at its instant: releaseHeld enqueues it ReleaseLead (500 ms) before,
// for processing at once, and the worker waits for the instant on its clock
// (README, Clocks). A run the scheduler released whose task Redis then lost
// (restart, fail-over) is now put on asynq's delayed path instead: up to a
// second of CeilSecond plus the forwarder's poll (DelayedTaskCheckInterval,
// 1 s) late, where before the re-enqueue it was handed over at once and
// sent on time. Here the reconciler runs 300 ms before the instant: the
// task is scheduled for a later whole wall second, not pending.
// The cause was scheduler/reconciler.go:311 (wallInstant(..., run.ScheduledFor):
// no ReleaseLead, so a run within it goes through ProcessAt).
func TestReconcilerHandsBackAReleasedRunAsTheSchedulerDid(t *testing.T) {
	t.Parallel()
	b, s, c, at := heldAhead(t)
	b.clock.Set(at.Add(-400 * time.Millisecond))
	if res, err := s.Tick(b.ctx); err != nil || res.Enqueued != 1 {
		t.Fatalf("tick 400 ms before the instant: %+v %v; want the held run released", res, err)
	}
	run := runsOf(t, b.store, c.ID)[0]
	if info, _ := b.taskOfRun(t, run.ID); info.State != asynq.TaskStatePending {
		t.Fatalf("released by the scheduler: task %s, want pending (handed over at once)", info.State)
	}

	b.redis.Flush(t) // Redis lost the task
	registerQueue(t, b.redis)
	b.clock.Set(at.Add(-300 * time.Millisecond))
	res := b.reconcile(t)
	info, err := b.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(run.ID))
	if err != nil {
		t.Fatalf("after reconcile %+v: no task: %v", res, err)
	}
	if info.State != asynq.TaskStatePending {
		t.Errorf("run due in 300 ms, its released task lost: reconcile %+v re-enqueued it %s until %s (wall now %s); "+
			"the scheduler had handed it over at once (pending), for an inline wait to its instant",
			res, info.State, info.NextProcessAt.Format("15:04:05.000"), time.Now().Format("15:04:05.000"))
	}
}
