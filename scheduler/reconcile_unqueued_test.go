package scheduler

import (
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
)

// pagedReconciler is a reconciler on b's store, Redis and clock with the
// given page size.
func pagedReconciler(t *testing.T, b rbundle, batch int) *Reconciler {
	t.Helper()
	client, inspector := newAsynq(t, b.redis)
	r, err := NewReconciler(ReconcilerConfig{Store: b.store, Queue: client, Inspector: inspector, Clock: b.clock,
		Logger: zerolog.Nop(), BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The scheduler's enqueues failed (Redis down at a peak): every due run is
// left to the reconciler's unqueued step, which must page through all of
// them in one pass: one page a pass (500) kept 5,000 runs of a 09:00 cron
// waiting up to 100 s, long enough for a short deliver_within to expire them.
func TestReconcilerEnqueuesEveryDueUnqueuedRunInOnePass(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T08:59:00Z")
	down := newRecordingQueue()
	down.failUntil = 1 << 30
	b := setupReconcile(t, sqliteURL(t), start, down)
	at := start.Add(time.Minute)
	for range 5 {
		create(t, b.store, newCampaign("peak", campaign.Schedule{At: &at}), start)
	}
	if res := b.tick(t, at); res.Fired != 5 || res.Enqueued != 0 {
		t.Fatalf("tick with the queue down: %+v; want 5 runs fired, none enqueued", res)
	}
	want := openRunIDs(t, b.store)

	rec := pagedReconciler(t, b, 2)
	res, err := rec.Tick(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := queuedRunIDs(t, b.inspector)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("one reconcile pass (BatchSize 2) with 5 due runs never enqueued: result %+v, tasks for runs %v; "+
			"want every due run %v enqueued (openRuns pages through every run; unqueued reads one page)", res, got, want)
	}
}

// Runs claimed ahead by a scheduler that then crashed are pending, never
// enqueued and not yet due; they have the lowest ids. They must not use up
// the page that a due run left unqueued behind them (its enqueue failed)
// needs.
func TestHeldRunsDoNotHideADueUnqueuedRun(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T08:59:58Z")
	down := newRecordingQueue()
	down.failUntil = 1 << 30
	b := setupReconcile(t, sqliteURL(t), start, down)

	ahead := start.Add(1500 * time.Millisecond)
	create(t, b.store, newCampaign("ahead-1", campaign.Schedule{At: &ahead}), start)
	create(t, b.store, newCampaign("ahead-2", campaign.Schedule{At: &ahead}), start)
	if res := b.tick(t, start); res.Held != 2 {
		t.Fatalf("tick: %+v; want 2 runs claimed ahead and held", res)
	}
	due := start.Add(100 * time.Millisecond)
	c := create(t, b.store, newCampaign("due", campaign.Schedule{At: &due}), start)
	if res := b.tick(t, start.Add(200*time.Millisecond)); res.Fired != 1 || res.Enqueued != 0 {
		t.Fatalf("tick with the queue down: %+v; want the due run fired, not enqueued", res)
	}
	run := runsOf(t, b.store, c.ID)[0]
	// The scheduler crashes here, holding the two runs.

	rec := pagedReconciler(t, b, 2)
	res, err := rec.Tick(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !b.hasTask(t, run.ID) {
		t.Errorf("run %d, due at %s and never enqueued, has no task after a reconcile pass at %s (result %+v): "+
			"the page of RunsToEnqueue held only the 2 not-yet-due runs claimed ahead",
			run.ID, run.ScheduledFor.Format("15:04:05.000"), b.clock.Now().Format("15:04:05.000"), res)
	}
}
