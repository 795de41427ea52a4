package sqlstore_test

import (
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// A run re-opened by an operator retry is pending again while it still has
// sends sent by its first pass. When its fresh deliver_within passes before
// a worker starts it, ExpireRun must settle it (partially_failed: some
// sent, the rest expired). It must not refuse with a TransitionError: the
// worker and the reconciler both ignore that error and look again, so the
// run would stay pending forever (the worker spinning on it).
func TestExpireRetriedRunWithSentSends(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			run, sends := b.fire(t, 1500) // 2 sends
			if len(sends) != 2 {
				t.Fatalf("%d sends, want 2", len(sends))
			}
			b.send(t, b.claim(t, sends[0].ID, t0), t0, campaign.Outcome{Status: campaign.SendSent, MessageUID: "m0"})
			b.send(t, b.claim(t, sends[1].ID, t0), t0, campaign.Outcome{Status: campaign.SendFailed, Code: 1002})
			if r, err := b.store.FinishRun(b.ctx, run.ID, t0); err != nil || r.Status != campaign.RunPartiallyFailed {
				t.Fatalf("FinishRun = %s, %v; want partially_failed", r.Status, err)
			}
			if n, err := b.store.ResetForRetry(b.ctx, run.ID, campaign.RetryOptions{}, t0.Add(time.Hour)); err != nil || n != 1 {
				t.Fatalf("ResetForRetry = %d, %v", n, err)
			}
			// No worker started it within deliver_within (1h).
			r, err := b.store.ExpireRun(b.ctx, run.ID, t0.Add(3*time.Hour))
			if err != nil {
				t.Fatalf("ExpireRun of a retried run past its deliver_by: %v", err)
			}
			if r.Status != campaign.RunPartiallyFailed {
				t.Errorf("run status = %s, want partially_failed", r.Status)
			}
			// The move is one write from pending: an edge of the transitions
			// table (and so of docs/state-machine.md), not a pretended start.
			if !campaign.CanTransition(campaign.RunPending, r.Status) {
				t.Errorf("the store moved the run from pending to %s, an edge campaign.transitions does not have", r.Status)
			}
			_, after, err := b.store.GetRun(b.ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after[1].Status != campaign.SendExpired {
				t.Errorf("retried send = %s, want expired", after[1].Status)
			}
		})
	}
}
