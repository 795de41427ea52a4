package sqlstore_test

import (
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// TestCancelCounts: Cancel says, from its own transaction, how many runs
// and sends it cancelled: the unfinished runs (pending, running) and the
// unsent sends (pending, retry_wait). A settled run and its sent and failed
// sends, a send in flight, and another campaign's runs are untouched and
// not counted. On both dialects.
func TestCancelCounts(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			testCancelCounts(t, b)
		})
	}
}

func testCancelCounts(t *testing.T, b bundle) {
	// An hourly campaign of 2500 users: 3 sends a run.
	c := newCampaign("main", "hourly", t0, 2500)
	c.Schedule = campaign.Schedule{Cron: "0 * * * *", Missed: campaign.MissedOnce}
	c = b.create(t, c)
	fire := func(at time.Time) (campaign.Run, []campaign.Send) {
		t.Helper()
		runs, err := b.store.ClaimDue(b.ctx, at, at, 10, plan)
		if err != nil || len(runs) != 1 || runs[0].CampaignID != c.ID {
			t.Fatalf("ClaimDue at %s = %v, %v; want one run of campaign %d", at, runs, err, c.ID)
		}
		r, sends, err := b.store.GetRun(b.ctx, runs[0].ID)
		if err != nil || len(sends) != 3 {
			t.Fatalf("run %d: %d sends (err %v), want 3", runs[0].ID, len(sends), err)
		}
		return r, sends
	}

	// Run A settles partially_failed: sent, sent, failed.
	runA, sendsA := fire(t0)
	at := t0.Add(time.Second)
	b.send(t, b.claim(t, sendsA[0].ID, at), at, campaign.Outcome{Status: campaign.SendSent, MessageUID: "a0"})
	b.send(t, b.claim(t, sendsA[1].ID, at), at, campaign.Outcome{Status: campaign.SendSent, MessageUID: "a1"})
	b.send(t, b.claim(t, sendsA[2].ID, at), at, campaign.Outcome{Status: campaign.SendFailed, Code: 1002, Message: "parameter error"})
	if r, err := b.store.FinishRun(b.ctx, runA.ID, at); err != nil || r.Status != campaign.RunPartiallyFailed {
		t.Fatalf("finish run A: %s (err %v), want partially_failed", r.Status, err)
	}

	// Run B is running: one send sent, one in flight, one waiting to retry.
	runB, sendsB := fire(t0.Add(time.Hour))
	at = t0.Add(time.Hour + time.Second)
	b.send(t, b.claim(t, sendsB[0].ID, at), at, campaign.Outcome{Status: campaign.SendSent, MessageUID: "b0"})
	flying := b.claim(t, sendsB[1].ID, at)
	b.send(t, b.claim(t, sendsB[2].ID, at), at, campaign.Outcome{Status: campaign.SendRetryWait, Code: 1000, NextAttempt: at.Add(time.Minute), KeepsQuota: true})

	// Run C is pending with its 3 sends pending.
	runC, _ := fire(t0.Add(2 * time.Hour))

	// Another campaign's open run is not this cancel's.
	otherRun, _ := b.fireAt(t, newCampaign("main", "other", t0.Add(150*time.Minute), 10), t0.Add(150*time.Minute))

	now := t0.Add(151 * time.Minute)
	cc, err := b.store.Cancel(b.ctx, c.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	if cc.ID != c.ID || cc.Status != campaign.CampaignCancelled || cc.NextRunAt != nil {
		t.Errorf("cancelled campaign: id %d, %s, next %v", cc.ID, cc.Status, cc.NextRunAt)
	}
	if cc.CancelledRuns != 2 || cc.CancelledSends != 4 {
		t.Errorf("cancel counted %d runs and %d sends; want 2 runs (B running, C pending) and 4 sends (B's retry_wait, C's 3 pending)",
			cc.CancelledRuns, cc.CancelledSends)
	}

	wantRun := func(id int64, status campaign.RunStatus, sends ...campaign.SendStatus) {
		t.Helper()
		r, got, err := b.store.GetRun(b.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != status {
			t.Errorf("run %d: %s, want %s", id, r.Status, status)
		}
		for i, sd := range got {
			if i < len(sends) && sd.Status != sends[i] {
				t.Errorf("run %d send %d: %s, want %s", id, i, sd.Status, sends[i])
			}
		}
	}
	wantRun(runA.ID, campaign.RunPartiallyFailed, campaign.SendSent, campaign.SendSent, campaign.SendFailed)
	wantRun(runB.ID, campaign.RunCancelled, campaign.SendSent, campaign.SendInFlight, campaign.SendCancelled)
	wantRun(runC.ID, campaign.RunCancelled, campaign.SendCancelled, campaign.SendCancelled, campaign.SendCancelled)
	wantRun(otherRun.ID, campaign.RunPending, campaign.SendPending)

	// The send in flight still records its outcome; it was not counted.
	b.send(t, flying, now, campaign.Outcome{Status: campaign.SendSent, MessageUID: "b1"})
	wantRun(runB.ID, campaign.RunCancelled, campaign.SendSent, campaign.SendSent, campaign.SendCancelled)

	// A refused cancel cancels nothing and counts nothing.
	again, err := b.store.Cancel(b.ctx, c.ID, now)
	wantTransitionError(t, err, "cancel twice")
	if again.CancelledRuns != 0 || again.CancelledSends != 0 {
		t.Errorf("refused cancel counted %d runs, %d sends; want 0", again.CancelledRuns, again.CancelledSends)
	}
	// A campaign with nothing open: its cancel counts none.
	idle := b.create(t, newCampaign("main", "idle", t0.Add(24*time.Hour), 0))
	if cc, err := b.store.Cancel(b.ctx, idle.ID, now); err != nil || cc.CancelledRuns != 0 || cc.CancelledSends != 0 {
		t.Errorf("cancel of a campaign without runs: %d runs, %d sends (err %v); want 0, 0", cc.CancelledRuns, cc.CancelledSends, err)
	}
}
