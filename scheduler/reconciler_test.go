package scheduler

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/queue"
)

// rbundle is a scheduler, a reconciler and operations on one store, one
// real Redis and one simulated clock.
type rbundle struct {
	ctx       context.Context
	clock     *fakeClock
	store     campaign.Store
	redis     *testenv.RedisServer
	inspector *asynq.Inspector
	sched     *Scheduler
	rec       *Reconciler
	ops       *Operations
}

func setupReconcile(t *testing.T, url string, start time.Time, schedQueue queue.Enqueuer) rbundle {
	t.Helper()
	b := rbundle{ctx: context.Background(), clock: newFakeClock(start), store: openStore(t, url), redis: testenv.Redis(t)}
	client, inspector := newAsynq(t, b.redis)
	b.inspector = inspector
	if schedQueue == nil {
		schedQueue = client
	}
	var err error
	if b.sched, err = New(Config{Store: b.store, Queue: schedQueue, Inspector: inspector, Clock: b.clock, Logger: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	if b.rec, err = NewReconciler(ReconcilerConfig{Store: b.store, Queue: client, Inspector: inspector, Clock: b.clock,
		Logger: zerolog.Nop(), BatchSize: 7}); err != nil {
		t.Fatal(err)
	}
	if b.ops, err = NewOperations(OperationsConfig{Store: b.store, Queue: client, Inspector: inspector, Clock: b.clock,
		Logger: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b rbundle) reconcile(t *testing.T) ReconcileResult {
	t.Helper()
	res, err := b.rec.Tick(b.ctx)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (b rbundle) tick(t *testing.T, at time.Time) TickResult {
	t.Helper()
	b.clock.Set(at)
	res, err := b.sched.Tick(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// openRunIDs lists the ids of every pending or running run.
func openRunIDs(t *testing.T, st campaign.Store) []int64 {
	t.Helper()
	runs, err := st.OpenRuns(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestRedisFlushedMidway: runs enqueued, Redis flushed, the scheduler keeps
// firing: the reconciler re-enqueues every lost run exactly once, on both
// databases.
func TestRedisFlushedMidway(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			start := utc("2026-12-01T08:59:00Z")
			b := setupReconcile(t, d.url(t), start, nil)
			for i := range 25 {
				at := start.Add(time.Minute + time.Duration(i%5)*time.Minute)
				create(t, b.store, newCampaign("c", campaign.Schedule{At: &at}), start)
			}
			create(t, b.store, newCampaign("every-minute", campaign.Schedule{Cron: "* * * * *"}), start)
			for at := start; at.Before(start.Add(3 * time.Minute)); at = at.Add(10 * time.Second) {
				b.tick(t, at)
			}
			before := openRunIDs(t, b.store)
			if diff := cmp.Diff(before, queuedRunIDs(t, b.inspector)); diff != "" || len(before) < 10 {
				t.Fatalf("before the flush, tasks vs open runs (-runs +tasks):\n%s", diff)
			}
			if res := b.reconcile(t); res.Lost+res.Unqueued+res.Revived != 0 || res.Checked != len(before) {
				t.Fatalf("reconcile with nothing lost: %+v", res)
			}

			b.redis.Flush(t)
			if got := queuedRunIDs(t, b.inspector); len(got) != 0 {
				t.Fatalf("after the flush %d tasks remain", len(got))
			}
			for at := start.Add(3 * time.Minute); at.Before(start.Add(6 * time.Minute)); at = at.Add(10 * time.Second) {
				b.tick(t, at)
			}
			res := b.reconcile(t)
			registerQueue(t, b.redis)
			if res.Lost != len(before) {
				t.Errorf("reconcile after the flush: %+v, want %d lost runs re-enqueued", res, len(before))
			}
			after := openRunIDs(t, b.store)
			if diff := cmp.Diff(after, queuedRunIDs(t, b.inspector)); diff != "" {
				t.Errorf("after reconciling, tasks vs open runs (-runs +tasks):\n%s", diff)
			}
			if res := b.reconcile(t); res.Lost+res.Unqueued+res.Revived != 0 {
				t.Errorf("second reconcile: %+v, want nothing to do", res)
			}
		})
	}
}

// TestReconcilerEnqueuesRunsLeftUnqueued: the scheduler's enqueue failed
// after the claim committed (Redis down, or a crash): the reconciler enqueues
// the runs, and expires the one whose deliver_within passed meanwhile.
func TestReconcilerEnqueuesRunsLeftUnqueued(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T09:00:00Z")
	down := newRecordingQueue()
	down.failUntil = 1 << 30
	b := setupReconcile(t, sqliteURL(t), start, down)
	at := start.Add(time.Minute)
	c1 := create(t, b.store, newCampaign("a", campaign.Schedule{At: &at}), start)
	c2 := create(t, b.store, newCampaign("b", campaign.Schedule{At: &at, DeliverWithin: 10 * time.Minute}), start)
	later := at.Add(time.Hour)
	c3 := create(t, b.store, newCampaign("held", campaign.Schedule{At: &later}), start)
	if res := b.tick(t, at); res.Fired != 2 || res.Enqueued != 0 {
		t.Fatalf("tick with the queue down: %+v", res)
	}
	// A run claimed ahead by a scheduler that then crashed: not due yet,
	// so the reconciler leaves it alone.
	b.tick(t, later.Add(-time.Second))

	b.clock.Set(at.Add(5 * time.Minute))
	res := b.reconcile(t)
	if res.Unqueued != 2 {
		t.Fatalf("reconcile: %+v, want the 2 due runs enqueued", res)
	}
	r1, r2, r3 := runsOf(t, b.store, c1.ID)[0], runsOf(t, b.store, c2.ID)[0], runsOf(t, b.store, c3.ID)[0]
	if diff := cmp.Diff([]int64{r1.ID, r2.ID}, queuedRunIDs(t, b.inspector)); diff != "" {
		t.Fatalf("tasks (-want +got):\n%s", diff)
	}
	if r1.EnqueuedAt == nil || r3.EnqueuedAt != nil {
		t.Errorf("enqueued_at: run 1 %v, held run %v", r1.EnqueuedAt, r3.EnqueuedAt)
	}

	// Queue down again and a run whose deliver_within passes before the
	// reconciler sees it: expired, not enqueued.
	if err := b.inspector.DeleteTask(queue.DefaultQueue, queue.TaskID(r2.ID)); err != nil {
		t.Fatal(err)
	}
	b.clock.Set(at.Add(11 * time.Minute))
	res = b.reconcile(t)
	if res.Expired != 1 || res.Lost != 0 {
		t.Errorf("reconcile past deliver_within: %+v, want 1 expired", res)
	}
	got, _, err := b.store.GetRun(b.ctx, r2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaign.RunExpired {
		t.Errorf("run %d status %s, want expired", r2.ID, got.Status)
	}
	if slices.Contains(queuedRunIDs(t, b.inspector), r2.ID) {
		t.Errorf("expired run %d was enqueued", r2.ID)
	}
}

// TestReconcilerSettlesStaleSends: a send whose worker died during its
// attempt becomes unknown once its lease lapses, and its run's task is
// back in the queue.
func TestReconcilerSettlesStaleSends(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T09:00:00Z")
	b := setupReconcile(t, sqliteURL(t), start, nil)
	at := start
	c := create(t, b.store, newCampaign("a", campaign.Schedule{At: &at}), start)
	c.Push.Audience.Tag = nil
	b.tick(t, at)
	run := runsOf(t, b.store, c.ID)[0]
	_, sends, err := b.store.GetRun(b.ctx, run.ID)
	if err != nil || len(sends) != 1 {
		t.Fatal(sends, err)
	}
	if _, err := b.store.ClaimSend(b.ctx, sends[0].ID, at, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.inspector.DeleteTask(queue.DefaultQueue, queue.TaskID(run.ID)); err != nil { // the worker's task died with it
		t.Fatal(err)
	}
	b.clock.Set(at.Add(30 * time.Second))
	if res := b.reconcile(t); res.StaleSends != 0 {
		t.Fatalf("within the lease: %+v", res)
	}
	b.clock.Set(at.Add(2 * time.Minute))
	res := b.reconcile(t)
	if res.StaleSends != 1 {
		t.Fatalf("after the lease: %+v, want 1 stale send", res)
	}
	_, sends, err = b.store.GetRun(b.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sends[0].Status != campaign.SendUnknown {
		t.Errorf("send %s, want unknown (the attempt had begun)", sends[0].Status)
	}
	if !slices.Contains(queuedRunIDs(t, b.inspector), run.ID) {
		t.Errorf("run %d of the stale send is not back in the queue", run.ID)
	}
}

func TestNewReconcilerRequiresItsParts(t *testing.T) {
	t.Parallel()
	if _, err := NewReconciler(ReconcilerConfig{Store: openStore(t, "sqlite::memory:"), Queue: newRecordingQueue()}); err == nil {
		t.Error("no inspector accepted")
	}
}

// TestReplicasReconcileConcurrently: three reconcilers after a flush
// re-enqueue each run once.
func TestReplicasReconcileConcurrently(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T09:00:00Z")
	url := testenv.Postgres(t)
	b := setupReconcile(t, url, start, nil)
	for range 30 {
		create(t, b.store, newCampaign("c", campaign.Schedule{At: &start}), start)
	}
	b.tick(t, start)
	b.redis.Flush(t)
	var mu sync.Mutex
	lost := 0
	var wg sync.WaitGroup
	for range 3 {
		client, inspector := newAsynq(t, b.redis)
		rec, err := NewReconciler(ReconcilerConfig{Store: openStore(t, url), Queue: client, Inspector: inspector, Clock: b.clock, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			res, err := rec.Tick(b.ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Error(err)
			}
			mu.Lock()
			lost += res.Lost
			mu.Unlock()
		})
	}
	wg.Wait()
	registerQueue(t, b.redis)
	if lost != 30 {
		t.Errorf("%d re-enqueues reported, want 30 (one per run)", lost)
	}
	if diff := cmp.Diff(openRunIDs(t, b.store), queuedRunIDs(t, b.inspector)); diff != "" {
		t.Errorf("tasks vs open runs (-runs +tasks):\n%s", diff)
	}
}

// TestReconcilerRevivesArchivedTasksOfOpenRuns: asynq archives a task once
// its retries run out; while the run is open nobody else would process it,
// so the reconciler re-enqueues it with a fresh retry budget. A settled
// run's archived task is left alone.
func TestReconcilerRevivesArchivedTasksOfOpenRuns(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T09:00:00Z")
	b := setupReconcile(t, sqliteURL(t), start, nil)
	at := start.Add(time.Minute)
	c := create(t, b.store, newCampaign("a", campaign.Schedule{At: &at}), start)
	if res := b.tick(t, at); res.Fired != 1 || res.Enqueued != 1 {
		t.Fatalf("tick: %+v", res)
	}
	run := runsOf(t, b.store, c.ID)[0]
	id := queue.TaskID(run.ID)
	if err := b.inspector.ArchiveTask(queue.DefaultQueue, id); err != nil {
		t.Fatal(err)
	}

	res := b.reconcile(t)
	if res.Archived != 1 || res.Checked != 1 {
		t.Fatalf("reconcile: %+v, want the archived task of the open run revived", res)
	}
	info, err := b.inspector.GetTaskInfo(queue.DefaultQueue, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStatePending || info.Retried != 0 {
		t.Errorf("task after reconcile: state %s, retried %d; want pending with a fresh budget", info.State, info.Retried)
	}
	if res := b.reconcile(t); res.Archived+res.Lost+res.Revived != 0 {
		t.Errorf("second reconcile: %+v, want nothing to do", res)
	}

	// Settled runs are not the reconciler's: their archived tasks stay.
	if _, err := b.store.Cancel(b.ctx, c.ID, at); err != nil {
		t.Fatal(err)
	}
	if err := b.inspector.ArchiveTask(queue.DefaultQueue, id); err != nil {
		t.Fatal(err)
	}
	if res := b.reconcile(t); res.Archived != 0 {
		t.Errorf("reconcile of a cancelled run: %+v, want its archived task left alone", res)
	}
	if info, err := b.inspector.GetTaskInfo(queue.DefaultQueue, id); err != nil || info.State != asynq.TaskStateArchived {
		t.Errorf("cancelled run's task: %v %v, want still archived", info, err)
	}
}
