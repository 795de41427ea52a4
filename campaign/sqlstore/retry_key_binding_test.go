package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// TestRetryKeyForAnotherRequestOnAnotherRun guards the binding of a retry's
// key to one request: the same key with another request hash is refused
// on any run, not only on the run the first request re-opened (found by a
// review: the store compared the hash of that run's row alone, so the key
// ended up with records of two requests, and two different retries under
// one key at once both re-opened runs; see admin/retry_key_races_test.go).
func TestRetryKeyForAnotherRequestOnAnotherRun(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := bundle{ctx: t.Context(), store: openMigrated(t, d.url(t))}
			var runs []campaign.Run
			for range 2 {
				run, sends := b.startedRun(t, 0, 1)
				b.send(t, b.claim(t, sends[0].ID, t0), t0, campaign.Outcome{Status: campaign.SendFailed, Code: 1002, Message: "parameter error"})
				if _, err := b.store.FinishRun(b.ctx, run.ID, t0); err != nil {
					t.Fatal(err)
				}
				runs = append(runs, run)
			}
			at := t0.Add(time.Hour)
			first := campaign.RetryOptions{Key: &campaign.IdempotencyKey{Key: "shared", RequestHash: "hash-campaign-1"}}
			if n, err := b.store.ResetForRetry(b.ctx, runs[0].ID, first, at); n != 1 || err != nil {
				t.Fatalf("ResetForRetry(run %d, hash-campaign-1) = %d, %v", runs[0].ID, n, err)
			}
			other := campaign.RetryOptions{Key: &campaign.IdempotencyKey{Key: "shared", RequestHash: "hash-campaign-2"}}
			n, err := b.store.ResetForRetry(b.ctx, runs[1].ID, other, at)
			var reused *campaign.IdempotencyKeyReusedError
			if !errors.As(err, &reused) {
				recs, _ := b.store.RetriesUnderKey(b.ctx, "shared")
				t.Errorf("ResetForRetry(run %d) under a key already used with another request hash = %d, %v; "+
					"want an *IdempotencyKeyReusedError (RetryOptions.Key doc); the key now holds %+v", runs[1].ID, n, err, recs)
			}
		})
	}
}
