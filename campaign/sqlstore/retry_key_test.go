package sqlstore_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// testRetryUnderKey guards the store's half of a retry's Idempotency-Key:
// the run is re-opened at most once under a key, checked under the run's
// lock and recorded in the transaction that re-opens it, so a retry sent
// again (even while the first is still running) never re-opens a send the
// first re-opened and that has ended unknown again; the key for another
// request is refused; nothing is recorded when nothing is re-opened, and a
// new key re-opens the run again.
func testRetryUnderKey(t *testing.T, b bundle) {
	run, sends := b.startedRun(t, 0, 1)
	settleUnknown := func(at time.Time) {
		t.Helper()
		b.send(t, b.claim(t, sends[0].ID, at), at, campaign.Outcome{Status: campaign.SendUnknown, Message: "no answer"})
		if _, err := b.store.FinishRun(b.ctx, run.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	settleUnknown(t0)
	key := &campaign.IdempotencyKey{Key: "retry-1", RequestHash: "hash-a"}
	opts := campaign.RetryOptions{Unknown: true, Key: key}

	// Nothing to re-open without unknown: nothing recorded.
	if n, err := b.store.ResetForRetry(b.ctx, run.ID, campaign.RetryOptions{Key: &campaign.IdempotencyKey{Key: "retry-0", RequestHash: "h"}}, t0); n != 0 || err != nil {
		t.Fatalf("ResetForRetry(no failed send) = %d, %v; want 0", n, err)
	}
	if recs, err := b.store.RetriesUnderKey(b.ctx, "retry-0"); len(recs) != 0 || err != nil {
		t.Errorf("RetriesUnderKey after re-opening nothing = %+v, %v; want none", recs, err)
	}

	at := t0.Add(time.Hour)
	if n, err := b.store.ResetForRetry(b.ctx, run.ID, opts, at); n != 1 || err != nil {
		t.Fatalf("first ResetForRetry under the key = %d, %v; want 1", n, err)
	}
	recs, err := b.store.RetriesUnderKey(b.ctx, key.Key)
	if err != nil || len(recs) != 1 || recs[0] != (campaign.RetryRecord{RunID: run.ID, Reset: 1, RequestHash: "hash-a", At: at}) {
		t.Errorf("RetriesUnderKey = %+v, %v; want run %d, 1 send, hash-a, at %s", recs, err, run.ID, at)
	}
	// The re-sent push stalls again; the same retry comes again.
	settleUnknown(at.Add(time.Minute))
	n, err := b.store.ResetForRetry(b.ctx, run.ID, opts, t0.Add(3*time.Hour))
	var again *campaign.RetriedUnderKeyError
	if !errors.As(err, &again) || !errors.Is(err, campaign.ErrRetriedUnderKey) || n != 0 || again.Reset != 1 || again.RunID != run.ID || !again.At.Equal(at) {
		t.Errorf("ResetForRetry under the key again = %d, %v; want a *RetriedUnderKeyError (1 send, at %s)", n, err, at)
	}
	_, err = b.store.ResetForRetry(b.ctx, run.ID, campaign.RetryOptions{Unknown: true, Key: &campaign.IdempotencyKey{Key: key.Key, RequestHash: "hash-b"}}, t0.Add(3*time.Hour))
	var reused *campaign.IdempotencyKeyReusedError
	if !errors.As(err, &reused) || reused.Key != key.Key || reused.Retry == "" {
		t.Errorf("ResetForRetry under the key, another request = %v; want an *IdempotencyKeyReusedError of a retry", err)
	}
	if _, ss, _ := b.store.GetRun(b.ctx, run.ID); ss[0].Status != campaign.SendUnknown {
		t.Errorf("after the refusals: send %s, want still unknown", ss[0].Status)
	}

	// The same retry twice at once: one re-opens, the other is told.
	key2 := campaign.RetryOptions{Unknown: true, Key: &campaign.IdempotencyKey{Key: "retry-2", RequestHash: "hash-a"}}
	var (
		wg     sync.WaitGroup
		counts [4]int
		errs   [4]error
	)
	for i := range counts {
		wg.Go(func() { counts[i], errs[i] = b.store.ResetForRetry(b.ctx, run.ID, key2, t0.Add(4*time.Hour)) })
	}
	wg.Wait()
	reopened := 0
	for i := range counts {
		switch {
		case errs[i] == nil && counts[i] == 1:
			reopened++
		case !errors.Is(errs[i], campaign.ErrRetriedUnderKey):
			t.Errorf("concurrent ResetForRetry %d = %d, %v; want 1 or ErrRetriedUnderKey", i, counts[i], errs[i])
		}
	}
	if reopened != 1 {
		t.Errorf("concurrent retries under one key re-opened the run %d times, want once", reopened)
	}
	if r, _, _ := b.store.GetRun(b.ctx, run.ID); r.Retries != 2 {
		t.Errorf("run retried %d times, want 2 (one a key)", r.Retries)
	}
}
