package scheduler

import (
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// TestClaimStampsTheRealInstantNotTheHorizon: Tick hands ClaimDue its claim
// horizon (now + lookahead), and the store writes that horizon as the
// created_at / updated_at of the runs and sends it creates, the
// campaign's updated_at, and the finished_at of a run whose template fails.
// With the default lookahead (2 × 1 s) a run due now is "created" two
// seconds in the future: after it was enqueued (enqueued_at), and, once a
// worker sends it within the second, after it finished. The admin API and
// `campaign show -o json` show these instants as they are.
func TestClaimStampsTheRealInstantNotTheHorizon(t *testing.T) {
	start := utc("2026-03-02T02:00:00Z")
	b := setup(t, start, Config{Interval: time.Second}) // default lookahead: 2 s

	due := newCampaign("due-now", campaign.Schedule{At: tp("2026-03-02T02:00:00Z")})
	due = create(t, b.store, due, start.Add(-time.Minute))
	bad := newCampaign("bad-template", campaign.Schedule{At: tp("2026-03-02T02:00:00Z")})
	bad.Push.Notification.Alert = "{{.Vars.missing}}" // fails at render, not at creation (store.Create does not validate)
	bad = create(t, b.store, bad, start.Add(-time.Minute))

	res := b.tickAt(t, start)
	if res.Fired != 2 || res.Enqueued != 1 || res.Failed != 1 {
		t.Fatalf("tick = %+v, want 2 fired, 1 enqueued, 1 failed", res)
	}

	// The run due now: created at the tick, enqueued at the tick.
	runs := runsOf(t, b.store, due.ID)
	if len(runs) != 1 {
		t.Fatalf("runs of %s: %v", due.Name, runs)
	}
	r, sends, err := b.store.GetRun(b.ctx, runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.CreatedAt.After(start) {
		t.Errorf("run created_at %s is after the tick that created it (%s): the claim horizon was stored", r.CreatedAt.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))
	}
	if r.EnqueuedAt != nil && r.CreatedAt.After(*r.EnqueuedAt) {
		t.Errorf("run created_at %s is after its enqueued_at %s", r.CreatedAt.Format(time.RFC3339Nano), r.EnqueuedAt.Format(time.RFC3339Nano))
	}
	for _, s := range sends {
		if s.CreatedAt.After(start) {
			t.Errorf("send %d created_at %s is after the tick that created it (%s)", s.ID, s.CreatedAt.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))
		}
	}
	c, err := b.store.Get(b.ctx, due.ID, campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if c.UpdatedAt.After(start) {
		t.Errorf("campaign updated_at %s is after the tick that claimed it (%s)", c.UpdatedAt.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))
	}

	// The run whose template failed is finished in the future.
	badRuns := runsOf(t, b.store, bad.ID)
	if len(badRuns) != 1 || badRuns[0].Status != campaign.RunFailed || badRuns[0].FinishedAt == nil {
		t.Fatalf("runs of %s: %+v, want one failed run", bad.Name, badRuns)
	}
	if f := *badRuns[0].FinishedAt; f.After(start) {
		t.Errorf("failed run finished_at %s is after the tick that created and failed it (%s)", f.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))
	}
}
