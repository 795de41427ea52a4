package scheduler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
)

// TestResumeAppliesTheMissedPolicyToThePause: paused over three daily fires
// and resumed: skip fires none of them, once fires the latest one once.
func TestResumeAppliesTheMissedPolicyToThePause(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		policy campaign.MissedPolicy
		want   []time.Time
	}{
		{campaign.MissedSkip, times("2026-12-01T09:00:00Z", "2026-12-05T09:00:00Z")},
		{campaign.MissedOnce, times("2026-12-01T09:00:00Z", "2026-12-04T09:00:00Z", "2026-12-05T09:00:00Z")},
	} {
		t.Run(string(tt.policy), func(t *testing.T) {
			t.Parallel()
			start := utc("2026-12-01T08:00:00Z")
			b := setupReconcile(t, sqliteURL(t), start, nil)
			c, err := b.ops.Create(b.ctx, validated(t, newCampaign("daily", campaign.Schedule{Cron: "0 9 * * *", Missed: tt.policy}), start))
			if err != nil {
				t.Fatal(err)
			}
			b.tick(t, utc("2026-12-01T09:00:00Z"))
			b.clock.Set(utc("2026-12-01T10:00:00Z"))
			if _, err := b.ops.Pause(b.ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			for at := utc("2026-12-01T10:00:00Z"); at.Before(utc("2026-12-04T12:00:00Z")); at = at.Add(time.Hour) {
				b.tick(t, at)
			}
			if got := runsOf(t, b.store, c.ID); len(got) != 1 {
				t.Fatalf("%d runs while paused, want only the one before the pause", len(got))
			}
			if _, err := b.ops.Resume(b.ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			for at := utc("2026-12-04T12:00:00Z"); at.Before(utc("2026-12-05T10:00:00Z")); at = at.Add(time.Hour) {
				b.tick(t, at)
			}
			if diff := cmp.Diff(tt.want, scheduledFor(runsOf(t, b.store, c.ID))); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCancelStopsFires(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T08:00:00Z")
	b := setupReconcile(t, sqliteURL(t), start, nil)
	c, err := b.ops.Create(b.ctx, validated(t, newCampaign("daily", campaign.Schedule{Cron: "0 9 * * *"}), start))
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Set(start.Add(time.Minute))
	if _, err := b.ops.Cancel(b.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	for at := start; at.Before(start.Add(72 * time.Hour)); at = at.Add(time.Hour) {
		b.tick(t, at)
	}
	if got := runsOf(t, b.store, c.ID); len(got) != 0 {
		t.Errorf("%d runs after cancel, want 0", len(got))
	}
	if _, err := b.ops.Resume(b.ctx, c.ID); !errors.Is(err, campaign.ErrIllegalTransition) {
		t.Errorf("resume of a cancelled campaign: %v, want an illegal transition", err)
	}
}

// TestRetryReplacesTheCompletedTask runs a real asynq server: the run's
// first task completes (kept for its retention, holding the TaskID), the
// run fails, and Retry re-opens it and gets a new task processed.
func TestRetryReplacesTheCompletedTask(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T09:00:00Z")
	b := setupReconcile(t, sqliteURL(t), start, nil)
	processed := make(chan int64, 10)
	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: b.redis.Addr}, asynq.Config{
		Concurrency: 1, Queues: map[string]int{queue.DefaultQueue: 1}, LogLevel: asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypeRunSend, func(_ context.Context, task *asynq.Task) error {
		p, err := queue.ParseRunSend(task)
		if err != nil {
			return err
		}
		processed <- p.RunID
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	waitProcessed := func(want int64) {
		t.Helper()
		select {
		case got := <-processed:
			if got != want {
				t.Fatalf("processed run %d, want %d", got, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("run %d was not processed within 20 s", want)
		}
	}

	c := create(t, b.store, newCampaign("a", campaign.Schedule{At: &start}), start)
	b.tick(t, start)
	run := runsOf(t, b.store, c.ID)[0]
	waitProcessed(run.ID)

	if _, err := b.ops.Retry(b.ctx, run.ID, campaign.RetryOptions{}); err == nil {
		t.Fatal("retry of a pending run accepted")
	}
	// What a worker would have done: the one send failed, the run settled.
	_, sends, err := b.store.GetRun(b.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.StartRun(b.ctx, run.ID, start); err != nil {
		t.Fatal(err)
	}
	sd, err := b.store.ClaimSend(b.ctx, sends[0].ID, start, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.RecordOutcome(b.ctx, sd.Token(), campaign.Outcome{Status: campaign.SendUnknown, At: start}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.FinishRun(b.ctx, run.ID, start); err != nil {
		t.Fatal(err)
	}
	// The handler signals before asynq marks the task done: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := b.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(run.ID))
		if err == nil && info.State == asynq.TaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task of run %d: %v, %v; want completed (kept for its retention)", run.ID, info, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	b.clock.Set(start.Add(time.Hour))
	if n, err := b.ops.Retry(b.ctx, run.ID, campaign.RetryOptions{}); !errors.Is(err, ErrNothingToRetry) || n != 0 {
		t.Fatalf("retry without unknown of a run with only an unknown send: %d, %v; want ErrNothingToRetry", n, err)
	}
	n, err := b.ops.Retry(b.ctx, run.ID, campaign.RetryOptions{Unknown: true})
	if err != nil || n != 1 {
		t.Fatalf("retry with unknown: %d, %v; want 1 send reset", n, err)
	}
	waitProcessed(run.ID)
	got, sends, err := b.store.GetRun(b.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaign.RunPending || got.Retries != 1 || got.EnqueuedAt == nil || sends[0].Status != campaign.SendPending {
		t.Errorf("after retry: run %s retries %d enqueued %v, send %s", got.Status, got.Retries, got.EnqueuedAt, sends[0].Status)
	}
}

// TestCreateKeepsTheDSTFirstFire: a cron validated just before a
// spring-forward day is stored with the jump instant as its first fire (not
// the next day), and Create keeps it.
func TestCreateKeepsTheDSTFirstFire(t *testing.T) {
	t.Parallel()
	now := utc("2026-03-07T12:00:00-05:00")
	b := setupReconcile(t, sqliteURL(t), now, nil)
	c, err := b.ops.Create(b.ctx, validated(t, newCampaign("ny", campaign.Schedule{Cron: "30 2 * * *", Timezone: "America/New_York"}), now))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tp("2026-03-08T07:00:00Z"), c.NextRunAt, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("first fire (-want +got):\n%s", diff)
	}
	got, err := b.store.Get(b.ctx, c.ID, campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tp("2026-03-08T07:00:00Z"), got.NextRunAt, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("stored first fire (-want +got):\n%s", diff)
	}
}
