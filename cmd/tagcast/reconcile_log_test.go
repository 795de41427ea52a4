package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/scheduler"
)

// A reconcile pass that did something is one "reconciled" line in the log:
// operators grep and count these lines (lost and revived runs are what a
// flaky Redis looks like). startScheduler wires the reconciler with the
// process's logger, and Reconciler.Tick logs "reconciled" itself
// (scheduler/reconciler.go); reconcileLoop logged the same result again, so
// every pass that re-enqueued a run was reported twice.
func TestReconcilePassLoggedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, st := reconcileDeps(t)

	// One due run, claimed by a scheduler that crashed before enqueuing it:
	// the reconciler's unqueued step enqueues it.
	now := time.Now()
	at := now.Add(-time.Second)
	_, err := st.Create(ctx, campaign.Campaign{
		App: "main", Name: "reconcile-once",
		Push: pushapi.Request{
			Platform: []string{pushapi.PlatformIOS}, FromUserID: "system",
			Message:      &pushapi.Message{ObjectName: "AppNote", Content: "hi"},
			Audience:     pushapi.Audience{Tag: []string{"vip"}},
			Notification: &pushapi.Notification{Title: "t", Alert: "a"},
		},
		Schedule:  campaign.Schedule{At: &at, Missed: campaign.MissedOnce},
		NextRunAt: &at,
	}, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := st.ClaimDue(ctx, now, now, 10, func(c campaign.Campaign, _ time.Time) (campaign.FirePlan, error) {
		return campaign.FirePlan{Fire: true, ScheduledFor: *c.NextRunAt}, nil
	})
	if err != nil || len(runs) != 1 || runs[0].Status != campaign.RunPending {
		t.Fatalf("ClaimDue = %+v, %v; want one pending run", runs, err)
	}

	// As startScheduler wires it: the reconciler and the loop on the
	// process's one logger.
	logs := &testenv.Buffer{}
	log := zerolog.New(logs)
	r, err := scheduler.NewReconciler(scheduler.ReconcilerConfig{
		Store: st, Queue: asynq.NewClientFromRedisClient(rdb), Inspector: asynq.NewInspectorFromRedisClient(rdb), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	reconciledLines := func() []string {
		var out []string
		for _, l := range strings.Split(logs.String(), "\n") {
			var line struct {
				Message string `json:"message"`
			}
			if json.Unmarshal([]byte(l), &line) == nil && line.Message == "reconciled" {
				out = append(out, l)
			}
		}
		return out
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- reconcileLoop(lctx, r, rdb, newDemoClock(time.Now()), time.Hour, log) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	waitFor(t, "a reconcile pass logged", 10*time.Second, func() bool { return len(reconciledLines()) > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The loop's interval is an hour: exactly one pass ran.
	if got := reconciledLines(); len(got) != 1 {
		t.Errorf("one reconcile pass (one run enqueued) logged %d \"reconciled\" lines, want 1:\n%s", len(got), strings.Join(got, "\n"))
	}
}
