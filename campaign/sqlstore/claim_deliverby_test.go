package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// ClaimSend refuses a run past its deliver_by, as ClaimFirstSend does, on
// both dialects: a worker that looked at the run just before deliver_by and
// then paused must not start an attempt the design says ends expired. The
// refusal starts nothing (the run stays pending for ExpireRun), and a run
// started in time has its later sends refused too. ClaimSend used to check
// only the run's status (found by a review).
func TestClaimSendRefusesARunPastDeliverBy(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			run, sends := b.fire(t, 1500) // 2 sends, deliver_within 1h
			if len(sends) != 2 || run.DeliverBy == nil {
				t.Fatalf("%d sends, deliver_by %v; want 2 and a deliver_by", len(sends), run.DeliverBy)
			}
			late := *run.DeliverBy // deliver_by itself is already too late

			if _, _, ok, err := b.store.ClaimFirstSend(b.ctx, run.ID, run.App, late, time.Minute); err != nil || ok {
				t.Fatalf("ClaimFirstSend at deliver_by = %v, %v; want refused", ok, err)
			}
			sd, err := b.store.ClaimSend(b.ctx, sends[0].ID, late, time.Minute)
			if !errors.Is(err, campaign.ErrIllegalTransition) {
				t.Fatalf("ClaimSend at deliver_by (%s) = %s attempt %d, %v; want a transition error",
					late.Format(time.RFC3339), sd.Status, sd.Attempts, err)
			}
			if r, _, err := b.store.GetRun(b.ctx, run.ID); err != nil || r.Status != campaign.RunPending {
				t.Fatalf("run after the refused claim: %s, %v; want still pending (not started)", r.Status, err)
			}

			// Started in time: its second send is refused once deliver_by has come.
			inTime := late.Add(-time.Minute)
			first, err := b.store.ClaimSend(b.ctx, sends[0].ID, inTime, time.Minute)
			if err != nil {
				t.Fatalf("ClaimSend before deliver_by: %v", err)
			}
			if _, err := b.store.RecordOutcome(b.ctx, first.Token(), campaign.Outcome{Status: campaign.SendSent, MessageUID: "m1", PushID: "m1", At: inTime}); err != nil {
				t.Fatal(err)
			}
			if sd, err := b.store.ClaimSend(b.ctx, sends[1].ID, late.Add(time.Second), time.Minute); !errors.Is(err, campaign.ErrIllegalTransition) {
				t.Errorf("ClaimSend of a started run's second send past deliver_by = %s, %v; want a transition error", sd.Status, err)
			}
			if _, err := b.store.ExpireRun(b.ctx, run.ID, late.Add(time.Second)); err != nil {
				t.Errorf("ExpireRun after the refusals: %v", err)
			}
		})
	}
}
