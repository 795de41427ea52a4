package sqlstore_test

import (
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// ExpireRun acts on a read its caller made earlier (the worker's run, the
// reconciler's page of OpenRuns, the scheduler's fresh run): each checked
// deliver_by on its own copy, then calls. The store checks it again under
// the run's lock: without that, a call that comes after an operator retry
// re-opened the run with a fresh deliver_by expired the retry's sends at
// once, the retry the operator was told succeeded lost and the run expired
// again without a single attempt.
func TestStaleExpireDoesNotUndoARetry(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			run, _ := b.fire(t, 0) // deliver_within 1h: deliver_by t0+1h
			late := t0.Add(2 * time.Hour)

			// The reconciler reads the open runs: this one is past its deliver_by.
			open, err := b.store.OpenRuns(b.ctx, 0, 10)
			if err != nil || len(open) != 1 || open[0].DeliverBy == nil || late.Before(*open[0].DeliverBy) {
				t.Fatalf("OpenRuns = %+v, %v; want the run past its deliver_by", open, err)
			}
			// Meanwhile a worker expires it, and an operator retries it.
			if r, err := b.store.ExpireRun(b.ctx, run.ID, late); err != nil || r.Status != campaign.RunExpired {
				t.Fatalf("ExpireRun = %+v, %v", r, err)
			}
			retryAt := late.Add(time.Minute)
			if n, err := b.store.ResetForRetry(b.ctx, run.ID, campaign.RetryOptions{}, retryAt); err != nil || n != 1 {
				t.Fatalf("ResetForRetry = %d, %v", n, err)
			}
			// The reconciler goes on with its stale copy (deliver_by t0+1h).
			now := retryAt.Add(time.Second)
			if !now.Before(*open[0].DeliverBy) {
				_, _ = b.store.ExpireRun(b.ctx, open[0].ID, now)
			}
			r, sends, err := b.store.GetRun(b.ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != campaign.RunPending || sends[0].Status != campaign.SendPending {
				t.Errorf("after a stale ExpireRun at %s: run %s (deliver_by %s), send %s; want the retried run pending with its send pending until its new deliver_by",
					now.Format(time.RFC3339), r.Status, r.DeliverBy.Format(time.RFC3339), sends[0].Status)
			}
		})
	}
}
