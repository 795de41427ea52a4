package main

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/worker"
)

// budgetConfig is an embedded-defaults config whose worker keys are
// changed by edit, not validated.
func budgetConfig(t *testing.T, edit func(w *config.Worker)) *config.Config {
	t.Helper()
	cfg := demoConfig("http://127.0.0.1:9", "secret-not-real", "token-not-real", filepath.Join(t.TempDir(), "tagcast.db"))
	cfg.Log = config.Log{Level: "error", Format: config.LogFormatJSON}
	edit(&cfg.Worker)
	return cfg
}

// TestWorkerRefusesABudgetOverTheTaskTimeout: a run task has a fixed
// timeout (queue.DefaultOptions, 5 min). With worker.attempt_budget at or
// over it, every delivery of every run snoozes for "task timeout" at once:
// nothing is ever sent, forever. The configuration refuses it (and
// inline_wait likewise).
func TestWorkerRefusesABudgetOverTheTaskTimeout(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfg := budgetConfig(t, func(w *config.Worker) { w.AttemptBudget = 6 * time.Minute })

	// What such a worker does: a due run, delivered with a fresh task
	// timeout, snoozes without sending.
	d := &deps{cfg: cfg, log: zerolog.New(io.Discard), clock: wallClock{}}
	if err := d.buildCore(ctx, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.close() })
	now := time.Now()
	if _, err := d.store.Create(ctx, campaign.Campaign{App: demoApp, Name: "c", Push: pushapi.Request{
		Platform: []string{pushapi.PlatformIOS}, FromUserID: "system", Message: &pushapi.Message{ObjectName: "AppNote", Content: "hi"}, Audience: pushapi.Audience{IsToAll: true},
		Notification: &pushapi.Notification{Alert: "hi"},
	}, Schedule: campaign.Schedule{At: &now, Missed: campaign.MissedOnce}, NextRunAt: &now}, now); err != nil {
		t.Fatal(err)
	}
	runs, err := d.store.ClaimDue(ctx, now.Add(time.Second), now.Add(time.Second), 10, func(c campaign.Campaign, _ time.Time) (campaign.FirePlan, error) {
		return campaign.FirePlan{Fire: true, ScheduledFor: *c.NextRunAt}, nil
	})
	if err != nil || len(runs) != 1 {
		t.Fatalf("fired %d runs: %v", len(runs), err)
	}
	h, err := worker.NewHandler(worker.Deps{Store: d.store, Guard: d.guard, Pushers: map[string]worker.Pusher{}, Logger: d.log},
		workerConfig(cfg.Worker))
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, queue.DefaultOptions.Timeout) // a fresh delivery
	defer cancel()
	var s *worker.Snooze
	if err := h.ProcessRun(tctx, runs[0].ID); !errors.As(err, &s) || s.Reason != "task timeout" {
		t.Fatalf("ProcessRun = %v; want the task-timeout snooze this config causes on every delivery", err)
	}

	// So the configuration does not accept it.
	if config.RunTaskTimeout != queue.DefaultOptions.TaskTimeout() {
		t.Errorf("config.RunTaskTimeout %s, run tasks' timeout %s: they must agree", config.RunTaskTimeout, queue.DefaultOptions.TaskTimeout())
	}
	for name, edit := range map[string]func(w *config.Worker){
		"attempt_budget": func(w *config.Worker) { w.AttemptBudget = 6 * time.Minute },
		"inline_wait":    func(w *config.Worker) { w.InlineWait = 5 * time.Minute },
	} {
		cfg := budgetConfig(t, edit)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "worker."+name+": must be shorter than a run task's timeout 5m0s") {
			t.Errorf("worker.%s at the task timeout: Validate = %v, want a problem naming it", name, err)
		}
	}
}
