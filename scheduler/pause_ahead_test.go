package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
)

// The scheduler claims a fire up to its lookahead (2 × Interval) before its
// instant and creates the run then. A campaign paused after that claim and
// before the instant has no fire after the pause: Pause deletes the run no
// worker has touched and puts next_run_at back to its instant, so Resume
// applies the missed-fire policy to it as to any fire in the pause. Before,
// the held run was enqueued at its instant and sent though the campaign was
// paused.
func TestPauseStopsAFireClaimedAhead(t *testing.T) {
	t.Parallel()
	at := utc("2026-12-01T09:00:00Z")
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name     string
				resumeAt time.Time // zero: stays paused past the instant
				want     []time.Time
			}{
				// Resumed before the instant: the fire goes out once, on time.
				{"resumed before the instant", at.Add(-200 * time.Millisecond), times("2026-12-01T09:00:00Z", "2026-12-02T09:00:00Z")},
				// Paused over it, then resumed with missed: skip: no fire.
				{"paused over the instant", time.Time{}, times("2026-12-02T09:00:00Z")},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					b := setupReconcile(t, d.url(t), at.Add(-time.Hour), nil)
					c, err := b.ops.Create(b.ctx, validated(t, newCampaign("daily", campaign.Schedule{Cron: "0 9 * * *", Missed: campaign.MissedSkip}), b.clock.Now()))
					if err != nil {
						t.Fatal(err)
					}
					if res := b.tick(t, at.Add(-1500*time.Millisecond)); res.Held+res.Enqueued != 1 {
						t.Fatalf("1.5 s ahead: %+v; want the 09:00 fire claimed", res)
					}
					b.clock.Set(at.Add(-time.Second))
					p, err := b.ops.Pause(b.ctx, c.ID)
					if err != nil {
						t.Fatalf("pause 1 s before the fire: %v", err)
					}
					if p.Status != campaign.CampaignPaused || p.NextRunAt == nil || !p.NextRunAt.Equal(at) {
						t.Errorf("paused: status %s next_run_at %v; want paused, next_run_at back at %s", p.Status, p.NextRunAt, at)
					}
					if runs := runsOf(t, b.store, c.ID); len(runs) != 0 {
						t.Errorf("after the pause: %d runs (%v); want the unfired one deleted", len(runs), scheduledFor(runs))
					}
					b.tick(t, at.Add(-500*time.Millisecond))
					if !tc.resumeAt.IsZero() {
						b.clock.Set(tc.resumeAt)
						if _, err := b.ops.Resume(b.ctx, c.ID); err != nil {
							t.Fatal(err)
						}
					}
					for step := at; step.Before(at.Add(25 * time.Hour)); step = step.Add(30 * time.Minute) {
						b.tick(t, step)
						if step.Equal(at.Add(2*time.Hour)) && tc.resumeAt.IsZero() {
							if _, err := b.ops.Resume(b.ctx, c.ID); err != nil {
								t.Fatal(err)
							}
						}
					}
					if diff := cmp.Diff(tc.want, scheduledFor(runsOf(t, b.store, c.ID))); diff != "" {
						t.Errorf("runs (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

// A one-off campaign whose only fire was claimed ahead is already done;
// pausing it before the instant still stops that fire (it used to be refused,
// done → paused, with the fire going out), and Resume brings it back.
func TestPauseAOneOffWhoseFireWasClaimedAhead(t *testing.T) {
	t.Parallel()
	at := utc("2026-12-01T09:00:00Z")
	b := setupReconcile(t, sqliteURL(t), at.Add(-time.Hour), nil)
	c, err := b.ops.Create(b.ctx, validated(t, newCampaign("sale", campaign.Schedule{At: &at}), b.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	b.tick(t, at.Add(-1500*time.Millisecond))
	if d, err := b.store.Get(b.ctx, c.ID, campaign.RunsQuery{}); err != nil || d.Status != campaign.CampaignDone || len(d.Runs) != 1 {
		t.Fatalf("claimed ahead: %s with %d runs, %v; want done with its one run", d.Status, len(d.Runs), err)
	}
	b.clock.Set(at.Add(-time.Second))
	p, err := b.ops.Pause(b.ctx, c.ID)
	if err != nil {
		t.Fatalf("pause 1 s before the fire: %v", err)
	}
	if p.Status != campaign.CampaignPaused || p.NextRunAt == nil || !p.NextRunAt.Equal(at) {
		t.Errorf("paused: %s next_run_at %v; want paused at %s", p.Status, p.NextRunAt, at)
	}
	b.tick(t, at)
	b.tick(t, at.Add(time.Minute))
	if runs := runsOf(t, b.store, c.ID); len(runs) != 0 {
		t.Fatalf("paused: %d runs; want none", len(runs))
	}
	if _, err := b.ops.Resume(b.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	b.tick(t, at.Add(2*time.Minute))
	if diff := cmp.Diff(times("2026-12-01T09:00:00Z"), scheduledFor(runsOf(t, b.store, c.ID))); diff != "" {
		t.Errorf("after resume (missed: once by default) (-want +got):\n%s", diff)
	}
	// Done once more: pausing it now is refused, as for any done campaign.
	if _, err := b.ops.Pause(b.ctx, c.ID); err == nil {
		t.Error("pause of a one-off whose fire went out succeeded")
	}
}

// A fire whose instant has come is the workers', paused or not: Pause
// deletes only runs still ahead of their instant.
func TestPauseLeavesAFireWhoseInstantCame(t *testing.T) {
	t.Parallel()
	at := utc("2026-12-01T09:00:00Z")
	b := setupReconcile(t, sqliteURL(t), at.Add(-time.Hour), nil)
	c, err := b.ops.Create(b.ctx, validated(t, newCampaign("daily", campaign.Schedule{Cron: "0 9 * * *"}), b.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	b.tick(t, at)
	b.clock.Set(at.Add(time.Millisecond))
	p, err := b.ops.Pause(b.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	runs := runsOf(t, b.store, c.ID)
	if len(runs) != 1 || runs[0].Status != campaign.RunPending || !b.hasTask(t, runs[0].ID) {
		t.Errorf("paused just after the instant: runs %v; want the 09:00 run kept, pending and queued", scheduledFor(runs))
	}
	if p.NextRunAt == nil || !p.NextRunAt.Equal(at.Add(24*time.Hour)) {
		t.Errorf("next_run_at %v; want the next day's fire", p.NextRunAt)
	}
}

// hasTask reports whether run runID's task is in asynq.
func (b rbundle) hasTask(t *testing.T, runID int64) bool {
	t.Helper()
	_, err := b.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(runID))
	return err == nil
}

// Runs handed to the queue by a tick that a stop interrupts are enqueued
// all the same: the held runs it released (and the runs it claimed) are
// out of the scheduler's hands, and nothing else enqueues them before the
// reconciler's next pass, which may be the next start. The enqueue once ran
// on the cancelled context and failed.
func TestATickInterruptedByAStopStillEnqueues(t *testing.T) {
	t.Parallel()
	at := utc("2026-12-01T09:00:00Z")
	b := setupReconcile(t, sqliteURL(t), at.Add(-time.Hour), nil)
	c, err := b.ops.Create(b.ctx, validated(t, newCampaign("daily", campaign.Schedule{Cron: "0 9 * * *"}), b.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if res := b.tick(t, at.Add(-1500*time.Millisecond)); res.Held != 1 {
		t.Fatalf("1.5 s ahead: %+v; want the 09:00 run held", res)
	}
	stopped, cancel := context.WithCancel(b.ctx)
	cancel()
	b.clock.Set(at.Add(-400 * time.Millisecond))
	res, _ := b.sched.Tick(stopped)
	runs := runsOf(t, b.store, c.ID)
	if res.Enqueued != 1 || len(runs) != 1 || !b.hasTask(t, runs[0].ID) {
		t.Errorf("tick on a stopped context: %+v, runs %v; want the held run released and queued", res, scheduledFor(runs))
	}
}
