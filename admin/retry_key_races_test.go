package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
)

// Races and replays of the retry endpoints' Idempotency-Key, each found by
// a review of its first version.

// TestRetryReplayAfterCancelAnswersTheEarlierRuns guards a retry whose
// answer was lost, sent again under its key after the campaign was
// cancelled: it answers 200 with the runs the key re-opened (earlier:
// true) and the cancel as a warning, as the OpenAPI says (409 only when
// the key re-opened nothing before). It answered 409, so the operator
// never learnt that the first request had re-opened runs.
func TestRetryReplayAfterCancelAnswersTheEarlierRuns(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d.url(t))
			c, ids := b.hourlyRuns(t, 2)
			b.clock.Set(t0.Add(3 * time.Hour))
			opts := admin.RetryOptions{Unknown: true, IdempotencyKey: "cancel-1"}
			if res, err := b.client.RetryCampaignWith(b.ctx, c.ID, opts); err != nil || res.Reset != 2 {
				t.Fatalf("first retry: %+v, %v", res, err)
			}
			// Its answer is lost; the campaign is cancelled meanwhile.
			if _, err := b.client.CancelCampaign(b.ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			r := b.call(t, "POST", fmt.Sprintf("/v1/campaigns/%d/retry?unknown=true", c.ID), "Bearer "+tokenA, "", nil, withKey(opts.IdempotencyKey))
			if r.status != http.StatusOK || r.header.Get(admin.HeaderIdempotentReplayed) != "true" ||
				!strings.Contains(r.body, fmt.Sprintf(`{"run_id":%d,"reset":1,"earlier":true}`, ids[0])) ||
				!strings.Contains(r.body, "is cancelled: its runs cannot be retried: nothing more re-opened") {
				t.Errorf("campaign retry sent again under its key after a cancel: %s; want 200 Idempotent-Replayed with runs %v earlier "+
					"(OpenAPI: 409 only when the key re-opened nothing before)", r, ids)
			}
		})
	}
}

// TestRetryRunReplayVsCampaignReplayAfterCancel guards the two endpoints'
// agreement on the same situation: a key that re-opened runs before the
// campaign was cancelled is replayed by both (the campaign endpoint
// refused with 409 where the run endpoint replayed).
func TestRetryRunReplayVsCampaignReplayAfterCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, dialects[1].url(t))
	c, ids := b.hourlyRuns(t, 1)
	b.clock.Set(t0.Add(3 * time.Hour))
	runKey := admin.RetryOptions{Unknown: true, IdempotencyKey: "run-key"}
	if _, err := b.client.RetryRunWith(b.ctx, ids[0], runKey); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.CancelCampaign(b.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	rr := b.call(t, "POST", fmt.Sprintf("/v1/runs/%d/retry?unknown=true", ids[0]), "Bearer "+tokenA, "", nil, withKey(runKey.IdempotencyKey))
	// Second campaign, same story through the campaign endpoint.
	c2, err := b.client.CreateCampaign(b.ctx, []byte(strings.Replace(hourlyYAML, "name: hourly", "name: hourly2", 1)), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	runs := b.fire(t, t0.Add(4*time.Hour))
	if len(runs) != 1 || runs[0].CampaignID != c2.ID {
		t.Fatalf("fired: %+v", runs)
	}
	b.settle(t, runs[0].ID, t0.Add(4*time.Hour+time.Minute), campaign.SendUnknown)
	campKey := admin.RetryOptions{Unknown: true, IdempotencyKey: "campaign-key"}
	if _, err := b.client.RetryCampaignWith(b.ctx, c2.ID, campKey); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.CancelCampaign(b.ctx, c2.ID); err != nil {
		t.Fatal(err)
	}
	cr := b.call(t, "POST", fmt.Sprintf("/v1/campaigns/%d/retry?unknown=true", c2.ID), "Bearer "+tokenA, "", nil, withKey(campKey.IdempotencyKey))
	if rr.status != cr.status {
		t.Errorf("replay under the key after a cancel: run endpoint %s, campaign endpoint %s; want the same answer", rr, cr)
	}
}

// keyHookStore calls hook once, inside the first RetriesUnderKey, after it
// has read the key's records: what a second request under the same key
// does between a first request's read of the key and its first insert.
type keyHookStore struct {
	*sqlstore.Store
	fired atomic.Bool
	hook  func()
}

func (s *keyHookStore) RetriesUnderKey(ctx context.Context, key string) ([]campaign.RetryRecord, error) {
	recs, err := s.Store.RetriesUnderKey(ctx, key)
	if s.hook != nil && s.fired.CompareAndSwap(false, true) {
		s.hook()
	}
	return recs, err
}

func keyHookServer(t *testing.T, dbURL string) (*sqlstore.Store, *keyHookStore, *fakeClock, http.Handler) {
	t.Helper()
	st := migratedStore(t, dbURL)
	clock := &fakeClock{t: t0}
	hs := &keyHookStore{Store: st}
	srv, err := admin.New(admin.Options{
		Tokens: []string{tokenA}, Apps: []string{"main"},
		Store: hs, Operations: admin.StoreOperations{Store: st, Now: clock.Now}, Now: clock.Now, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, hs, clock, srv.Handler()
}

func post(h http.Handler, path, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, nil)
	req.Header.Set("Authorization", "Bearer "+tokenA)
	if key != "" {
		req.Header.Set(admin.HeaderIdempotencyKey, key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestRetryKeyBoundToOneRequest guards two different retries under one key
// at the same time (here: the run endpoint for the campaign's last run,
// between the campaign retry's read of the key and its first re-open). The
// store binds the key to the first request that re-opens a run, in that
// transaction: the other is refused (422) with nothing re-opened, and its
// answer claims no run of the first. Before, the 422 was decided on the
// read made before anything was re-opened and the store compared only the
// re-opened run's row: both re-opened runs, the key held records of two
// requests, and every request under it from then on was a 422.
func TestRetryKeyBoundToOneRequest(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, hs, _, h := keyHookServer(t, d.url(t))
			c, ids := storeHourlyRuns(t, st, hourlyYAML, 3)
			const key = "shared-key"
			var runAnswer *httptest.ResponseRecorder
			hs.hook = func() { runAnswer = post(h, fmt.Sprintf("/v1/runs/%d/retry?unknown=true", ids[2]), key) }
			campAnswer := post(h, fmt.Sprintf("/v1/campaigns/%d/retry?unknown=true", c.ID), key)

			recs, err := st.RetriesUnderKey(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			hashes := map[string]bool{}
			for _, r := range recs {
				hashes[r.RequestHash] = true
			}
			t.Logf("run retry: HTTP %d %s", runAnswer.Code, strings.TrimSpace(runAnswer.Body.String()))
			t.Logf("campaign retry: HTTP %d %s", campAnswer.Code, strings.TrimSpace(campAnswer.Body.String()))
			if runAnswer.Code == http.StatusOK && campAnswer.Code == http.StatusOK || len(hashes) > 1 {
				t.Errorf("two different retries under one key at once: both answered 200 and the key holds records of %d requests (%+v); "+
					"want one of them refused (422) with nothing re-opened", len(hashes), recs)
			}
			if strings.Contains(campAnswer.Body.String(), fmt.Sprintf(`{"run_id":%d,"reset":1,"earlier":true}`, ids[2])) {
				t.Errorf("the campaign retry's answer lists run %d as re-opened earlier under its key, but the run endpoint's request "+
					"(another request hash) re-opened it: addEarlier takes every record of the key without comparing the hash", ids[2])
			}
			if runAnswer.Code != http.StatusOK || campAnswer.Code != http.StatusUnprocessableEntity {
				t.Errorf("run retry HTTP %d, campaign retry HTTP %d; want the first to bind the key (200) and the other refused (422)", runAnswer.Code, campAnswer.Code)
			}
			for _, id := range ids[:2] {
				if run, _, err := st.GetRun(ctx, id); err != nil || run.Retries != 0 {
					t.Errorf("run %d retried %d times, %v; want none (the refused request re-opens nothing)", id, run.Retries, err)
				}
			}
			// The key stays the run retry's: sent again, it is replayed.
			if again := post(h, fmt.Sprintf("/v1/runs/%d/retry?unknown=true", ids[2]), key); again.Code != http.StatusOK ||
				!strings.Contains(again.Body.String(), `"earlier":true`) {
				t.Errorf("the run retry sent again under its key: HTTP %d %s; want 200 replayed", again.Code, strings.TrimSpace(again.Body.String()))
			}
		})
	}
}

// TestRetryKeyTwoRetriesAtOnce is the same race without a hook: a campaign
// retry and a run retry of its last run under one key, sent at the same
// time, never both re-open runs (3 of 5 rounds did on SQLite before).
func TestRetryKeyTwoRetriesAtOnce(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			hits := 0
			for round := range 5 {
				b := setup(t, d.url(t))
				c, ids := b.hourlyRuns(t, 20)
				key := fmt.Sprintf("at-once-%d", round)
				var (
					wg       sync.WaitGroup
					cr, rr   response
					start    = make(chan struct{})
					lastRun  = ids[len(ids)-1]
					campPath = fmt.Sprintf("/v1/campaigns/%d/retry?unknown=true", c.ID)
					runPath  = fmt.Sprintf("/v1/runs/%d/retry?unknown=true", lastRun)
				)
				wg.Go(func() { <-start; cr = b.call(t, "POST", campPath, "Bearer "+tokenA, "", nil, withKey(key)) })
				wg.Go(func() { <-start; rr = b.call(t, "POST", runPath, "Bearer "+tokenA, "", nil, withKey(key)) })
				close(start)
				wg.Wait()
				recs, err := b.store.RetriesUnderKey(b.ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				hashes := map[string]bool{}
				for _, r := range recs {
					hashes[r.RequestHash] = true
				}
				if len(hashes) > 1 {
					hits++
					var res admin.RetryResult
					_ = json.Unmarshal([]byte(cr.body), &res)
					t.Logf("round %d: campaign %d (incomplete %v, warnings %q), run %d; key holds records of %d requests",
						round, cr.status, res.Incomplete, res.Warnings, rr.status, len(hashes))
				}
			}
			if hits > 0 {
				t.Errorf("%d of 5 rounds: two different retries under one key both re-opened runs", hits)
			}
		})
	}
}

// migratedStore opens and migrates the store at dbURL.
func migratedStore(t *testing.T, dbURL string) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// storeHourlyRuns creates the campaign of file (an hourly one) straight on
// the store and fires n of its runs (t0+1h, t0+2h, ...), each settled with
// its one send unknown.
func storeHourlyRuns(t *testing.T, st *sqlstore.Store, file string, n int) (campaign.Campaign, []int64) {
	t.Helper()
	ctx := context.Background()
	c, err := campaign.ParseFile([]byte(file), campaign.ValidateOptions{Now: t0, Apps: []string{"main", "old"}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = st.Create(ctx, c, t0); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := range n {
		at := t0.Add(time.Duration(i+1) * time.Hour)
		runs, err := st.ClaimDue(ctx, at, at, 10, campaign.SimplePlan(time.Minute))
		if err != nil || len(runs) != 1 {
			t.Fatalf("ClaimDue at %s = %v, %v", at, runs, err)
		}
		settleStore(t, st, runs[0].ID, at.Add(time.Minute), campaign.SendUnknown)
		ids = append(ids, runs[0].ID)
	}
	return c, ids
}

// settleStore settles a one-send run with outcome, straight on the store.
func settleStore(t *testing.T, st *sqlstore.Store, runID int64, now time.Time, outcome campaign.SendStatus) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.StartRun(ctx, runID, now); err != nil {
		t.Fatal(err)
	}
	_, sends, err := st.GetRun(ctx, runID)
	if err != nil || len(sends) != 1 {
		t.Fatalf("run %d: %d sends, %v", runID, len(sends), err)
	}
	sd, err := st.ClaimSend(ctx, sends[0].ID, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	o := campaign.Outcome{Status: outcome, At: now}
	if outcome == campaign.SendFailed {
		o.Code, o.Message = 1002, "parameter error"
	}
	if _, err := st.RecordOutcome(ctx, sd.Token(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FinishRun(ctx, runID, now); err != nil {
		t.Fatal(err)
	}
}

// TestRetryMalformedQueryIsRefused guards a query that does not parse:
// r.URL.Query() drops a pair it cannot decode (a bad %-escape, a
// semicolon) without a word, so "?unknown=tru%e" or "?unknown=true;" was a
// retry without unknown sends (200), and "?unknown=false&unknown=tru%e"
// passed the "given at most once" rule. Each is a 400, nothing re-opened.
func TestRetryMalformedQueryIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, dialects[1].url(t))
	c, err := b.client.CreateCampaign(b.ctx, []byte(hourlyYAML), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := range 3 {
		at := t0.Add(time.Duration(i+1) * time.Hour)
		runs := b.fire(t, at)
		if len(runs) != 1 {
			t.Fatal(runs)
		}
		b.settle(t, runs[0].ID, at.Add(time.Minute), campaign.SendFailed)
		ids = append(ids, runs[0].ID)
	}
	_ = c
	for i, q := range []string{"unknown=tru%e", "unknown=true;", "unknown=false&unknown=tru%e"} {
		r := b.call(t, "POST", fmt.Sprintf("/v1/runs/%d/retry?%s", ids[i], q), "Bearer "+tokenA, "", nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("POST /v1/runs/%d/retry?%s: %s; want 400 naming unknown", ids[i], q, r)
		}
	}
}

// TestRetryReplayAfterTheAppIsGone guards, as after a cancel, a retry sent
// again under a key that re-opened runs before its app was removed from the
// configuration: replayed (200, the removal as a warning), not a 409.
func TestRetryReplayAfterTheAppIsGone(t *testing.T) {
	t.Parallel()
	st := migratedStore(t, dialects[1].url(t))
	clock := &fakeClock{t: t0}
	server := func(apps ...string) http.Handler {
		srv, err := admin.New(admin.Options{Tokens: []string{tokenA}, Apps: apps, Store: st,
			Operations: admin.StoreOperations{Store: st, Now: clock.Now}, Now: clock.Now, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		return srv.Handler()
	}
	c, ids := storeHourlyRuns(t, st, strings.Replace(hourlyYAML, "app: main", "app: old", 1), 1)
	path := fmt.Sprintf("/v1/campaigns/%d/retry?unknown=true", c.ID)
	if w := post(server("main", "old"), path, "app-gone-key"); w.Code != http.StatusOK {
		t.Fatalf("first retry: HTTP %d %s", w.Code, w.Body.String())
	}
	// Its answer is lost; the app is removed from the configuration.
	w := post(server("main"), path, "app-gone-key")
	if w.Code != http.StatusOK || w.Header().Get(admin.HeaderIdempotentReplayed) != "true" {
		t.Errorf("campaign retry sent again under its key after its app was removed: HTTP %d %s; want 200 replayed (the key re-opened run %d)",
			w.Code, strings.TrimSpace(w.Body.String()), ids[0])
	}
}
