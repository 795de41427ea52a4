package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
)

// cancellingOps cancels the request (a client that went away) after the
// n-th Retry.
type cancellingOps struct {
	admin.StoreOperations
	n      int
	calls  int
	cancel context.CancelFunc
}

func (o *cancellingOps) Retry(ctx context.Context, runID int64, opts campaign.RetryOptions) (int, error) {
	o.calls++
	n, err := o.StoreOperations.Retry(ctx, runID, opts)
	if o.calls == o.n && o.cancel != nil {
		o.cancel()
	}
	return n, err
}

// TestRetryCutOffByTheClientThenSentAgain guards a campaign retry under a
// key whose client goes away after two runs (the CLI's timeout on a
// campaign of many runs): sent again under the key, it re-opens every
// other run, each run is re-opened once, and the answer names them all.
func TestRetryCutOffByTheClientThenSentAgain(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migratedStore(t, d.url(t))
			clock := &fakeClock{t: t0}
			ops := &cancellingOps{StoreOperations: admin.StoreOperations{Store: st, Now: clock.Now}, n: 2}
			srv, err := admin.New(admin.Options{Tokens: []string{tokenA}, Apps: []string{"main"}, Store: st, Operations: ops, Now: clock.Now, Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			h := srv.Handler()
			c, ids := storeHourlyRuns(t, st, hourlyYAML, 5)
			path := fmt.Sprintf("/v1/campaigns/%d/retry?unknown=true", c.ID)
			rctx, cancel := context.WithCancel(ctx)
			ops.cancel = cancel
			req := httptest.NewRequestWithContext(rctx, "POST", path, nil)
			req.Header.Set("Authorization", "Bearer "+tokenA)
			req.Header.Set(admin.HeaderIdempotencyKey, "cut-off")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			t.Logf("cut off: HTTP %d %s", w.Code, w.Body.String())
			ops.cancel = nil
			w = post(h, path, "cut-off")
			var res admin.RetryResult
			_ = json.Unmarshal(w.Body.Bytes(), &res)
			fresh, earlier := 0, 0
			for _, r := range res.Runs {
				if r.Earlier {
					earlier++
				} else {
					fresh++
				}
			}
			if w.Code != 200 || res.Reset != 5 || earlier != 2 || fresh != 3 || res.Incomplete {
				t.Errorf("sent again: HTTP %d %s; want 5 runs, 2 earlier", w.Code, w.Body.String())
			}
			for _, id := range ids {
				if r, _, _ := st.GetRun(ctx, id); r.Retries != 1 {
					t.Errorf("run %d retried %d times", id, r.Retries)
				}
			}
		})
	}
}
