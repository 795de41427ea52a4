package sqlstore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// A run re-opened by an operator retry that expires before a worker starts
// it keeps its earlier outcomes, so it settles from pending as
// partially_failed (or failed), not expired. That move must be an edge of the
// transitions table (and so of docs/state-machine.md's Run diagram): the store
// used to pretend the run had started, writing a move the table ruled out.
func TestExpiredRetryMovesOnlyAlongDrawnEdges(t *testing.T) {
	t.Parallel()
	b := setup(t, func(t testing.TB) campaign.Store {
		return openMigrated(t, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"))
	})
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
	before, _, err := b.store.GetRun(b.ctx, run.ID)
	if err != nil || before.Status != campaign.RunPending {
		t.Fatalf("after retry: %s, %v; want pending", before.Status, err)
	}
	after, err := b.store.ExpireRun(b.ctx, run.ID, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatalf("ExpireRun: %v", err)
	}
	if !campaign.CanTransition(before.Status, after.Status) {
		t.Errorf("the store moved run %d from %s to %s in one write, an edge campaign.transitions "+
			"and docs/state-machine.md do not have",
			run.ID, before.Status, after.Status)
	}
}
