package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// TestRefusedConcurrentRetryReportsNoReset guards ResetForRetry's count
// ("the number of sends reset", campaign.Store) when it fails: on
// PostgreSQL, a request whose key another request binds at the same time
// waits, then is refused after its UPDATE, and its transaction rolls back.
// It returned the UPDATE's row count with the error (found by a review;
// Operations.Retry drops the count on error, so no caller was misled).
func TestRefusedConcurrentRetryReportsNoReset(t *testing.T) {
	t.Parallel()
	st := openMigrated(t, dialects[0].url(t)) // postgres
	b := bundle{ctx: t.Context(), store: st}
	run, sends := b.startedRun(t, 0, 1)
	b.send(t, b.claim(t, sends[0].ID, t0), t0, campaign.Outcome{Status: campaign.SendFailed, Code: 1002, Message: "parameter error"})
	if _, err := b.store.FinishRun(b.ctx, run.ID, t0); err != nil {
		t.Fatal(err)
	}
	// Another request binding the key, not yet committed.
	tx, err := st.DB().BeginTx(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO retry_requests (idempotency_key, request_hash, created_at) VALUES ('k', 'hash-A', now())`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := b.store.ResetForRetry(b.ctx, run.ID, campaign.RetryOptions{Key: &campaign.IdempotencyKey{Key: "k", RequestHash: "hash-B"}}, t0.Add(time.Hour))
		done <- result{n, err}
	}()
	time.Sleep(300 * time.Millisecond) // it waits on the binder's row
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	var reused *campaign.IdempotencyKeyReusedError
	if !errors.As(r.err, &reused) {
		t.Fatalf("ResetForRetry after the other binder committed: %+v; want *IdempotencyKeyReusedError", r)
	}
	_, got, _ := b.store.GetRun(b.ctx, run.ID)
	if r.n != 0 {
		t.Errorf("ResetForRetry refused (%v) returned %d sends reset; the send is still %s: want 0", r.err, r.n, got[0].Status)
	}
}
