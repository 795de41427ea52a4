package admin_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
)

// hourlyYAML is a campaign of app main firing every hour, one send a run.
const hourlyYAML = `name: hourly
app: main
schedule: {cron: "0 * * * *"}
push:
  platform: [ios, android]
  fromuserid: system
  message: {objectName: AppNote, content: hi}
  audience: {tag: [vip], is_to_all: false}
  notification: {alert: hi}
`

// hourlyRuns creates an hourly campaign and fires n of its runs (t0+1h,
// t0+2h, ...), each settled with its one send unknown.
func (b bundle) hourlyRuns(t *testing.T, n int) (campaign.Campaign, []int64) {
	t.Helper()
	c, err := b.client.CreateCampaign(b.ctx, []byte(hourlyYAML), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := range n {
		ids = append(ids, b.fireUnknown(t, c.ID, t0.Add(time.Duration(i+1)*time.Hour)))
	}
	return c, ids
}

// fireUnknown fires campaign id's run due at at and settles its send
// unknown.
func (b bundle) fireUnknown(t *testing.T, id int64, at time.Time) int64 {
	t.Helper()
	runs := b.fire(t, at)
	if len(runs) != 1 || runs[0].CampaignID != id {
		t.Fatalf("fired at %s: %+v; want one run of campaign %d", at, runs, id)
	}
	b.settle(t, runs[0].ID, at.Add(time.Minute), campaign.SendUnknown)
	return runs[0].ID
}

// sendStatus is the status of a one-send run's send.
func (b bundle) sendStatus(t *testing.T, runID int64) campaign.SendStatus {
	t.Helper()
	_, sends, err := b.store.GetRun(b.ctx, runID)
	if err != nil || len(sends) != 1 {
		t.Fatalf("run %d: %d sends, %v", runID, len(sends), err)
	}
	return sends[0].Status
}

// TestRetrySentAgainUnderItsKey guards a retry whose answer was lost (a
// timeout on a campaign of many runs, a proxy reset) and is sent again
// under its Idempotency-Key: it re-opens no run the first one re-opened,
// even one whose send has ended unknown again since (with unknown=true,
// re-opening it would push again what may have been delivered twice
// over), finishes what the first did not (a run settled since), and
// answers with everything the key re-opened, the earlier runs marked.
// Without the key, the second retry re-opened the stalled run again.
func TestRetrySentAgainUnderItsKey(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d.url(t))
			c, ids := b.hourlyRuns(t, 2)
			b.clock.Set(t0.Add(3 * time.Hour))
			opts := admin.RetryOptions{Unknown: true, IdempotencyKey: "retry-hourly-1"}

			res, err := b.client.RetryCampaignWith(b.ctx, c.ID, opts)
			want := admin.RetryResult{CampaignID: c.ID, Unknown: true, Reset: 2, Runs: []admin.RunRetry{{RunID: ids[0], Reset: 1}, {RunID: ids[1], Reset: 1}}}
			if diff := cmp.Diff(want, res); err != nil || diff != "" {
				t.Fatalf("first retry: %v (-want +got):\n%s", err, diff)
			}
			// Its answer is lost. Meanwhile the first run's send stalls
			// again (unknown), the second is not sent yet, and a third run
			// fires and stalls.
			b.settle(t, ids[0], t0.Add(3*time.Hour), campaign.SendUnknown)
			ids = append(ids, b.fireUnknown(t, c.ID, t0.Add(3*time.Hour)))

			res, err = b.client.RetryCampaignWith(b.ctx, c.ID, opts)
			want = admin.RetryResult{CampaignID: c.ID, Unknown: true, Reset: 3, Replayed: true, Runs: []admin.RunRetry{
				{RunID: ids[0], Reset: 1, Earlier: true}, {RunID: ids[1], Reset: 1, Earlier: true}, {RunID: ids[2], Reset: 1},
			}}
			if diff := cmp.Diff(want, res); err != nil || diff != "" {
				t.Errorf("retry sent again under its key: %v (-want +got):\n%s", err, diff)
			}
			got := []campaign.SendStatus{b.sendStatus(t, ids[0]), b.sendStatus(t, ids[1]), b.sendStatus(t, ids[2])}
			if diff := cmp.Diff([]campaign.SendStatus{campaign.SendUnknown, campaign.SendPending, campaign.SendPending}, got); diff != "" {
				t.Errorf("sends after the retry sent again (-want +got):\n%s\n(the first run's unknown send must not be re-opened twice under one key)", diff)
			}
			recs, err := b.store.RetriesUnderKey(b.ctx, opts.IdempotencyKey)
			if err != nil || len(recs) != 3 || recs[0].RunID != ids[0] || recs[2].RunID != ids[2] {
				t.Errorf("RetriesUnderKey = %+v, %v; want the three runs", recs, err)
			}

			// The raw answer says it was replayed.
			r := b.call(t, "POST", fmt.Sprintf("/v1/campaigns/%d/retry?unknown=true", c.ID), "Bearer "+tokenA, "", nil, withKey(opts.IdempotencyKey))
			if r.status != http.StatusOK || r.header.Get(admin.HeaderIdempotentReplayed) != "true" || !strings.Contains(r.body, `"earlier":true`) {
				t.Errorf("raw retry under the key: %s, Idempotent-Replayed %q", r, r.header.Get(admin.HeaderIdempotentReplayed))
			}

			// The key for another retry is refused, naming the header.
			for _, tc := range []struct {
				name string
				call func() (admin.RetryResult, error)
			}{
				{"without unknown", func() (admin.RetryResult, error) {
					return b.client.RetryCampaignWith(b.ctx, c.ID, admin.RetryOptions{IdempotencyKey: opts.IdempotencyKey})
				}},
				{"one run", func() (admin.RetryResult, error) { return b.client.RetryRunWith(b.ctx, ids[0], opts) }},
			} {
				_, err := tc.call()
				var ae *admin.APIError
				if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || len(ae.Problems) != 1 || ae.Problems[0].Path != admin.HeaderIdempotencyKey ||
					!strings.Contains(ae.Problems[0].Rule, "a new retry needs a new key") {
					t.Errorf("the key reused for a retry %s: %v; want 422 naming %s", tc.name, err, admin.HeaderIdempotencyKey)
				}
			}
			if got := b.sendStatus(t, ids[0]); got != campaign.SendUnknown {
				t.Errorf("after the refused reuses: run %d's send %s, want still unknown", ids[0], got)
			}

			// One run under a key of its own, then sent again.
			run := admin.RetryOptions{Unknown: true, IdempotencyKey: "retry-run-1"}
			res, err = b.client.RetryRunWith(b.ctx, ids[0], run)
			if err != nil || res.Reset != 1 || res.Replayed {
				t.Fatalf("retry run %d: %+v, %v", ids[0], res, err)
			}
			b.settle(t, ids[0], t0.Add(4*time.Hour), campaign.SendUnknown)
			res, err = b.client.RetryRunWith(b.ctx, ids[0], run)
			want = admin.RetryResult{Unknown: true, Reset: 1, Replayed: true, Runs: []admin.RunRetry{{RunID: ids[0], Reset: 1, Earlier: true}}}
			if diff := cmp.Diff(want, res); err != nil || diff != "" {
				t.Errorf("run retry sent again under its key: %v (-want +got):\n%s", err, diff)
			}
			if got := b.sendStatus(t, ids[0]); got != campaign.SendUnknown {
				t.Errorf("after the run retry sent again: send %s, want still unknown", got)
			}
			// A new retry (a new key, or none) re-opens it: the key guards
			// one retry, not the run.
			if res, err := b.client.RetryRun(b.ctx, ids[0], true); err != nil || res.Reset != 1 {
				t.Errorf("a new retry of run %d: %+v, %v; want it re-opened", ids[0], res, err)
			}
		})
	}
}

// TestRetryUnderOneKeyAtOnce guards the store's record of a retry's key:
// the same retry sent twice at once (a client that timed out and sent it
// again while the first was still running) re-opens each run once, and
// both answers name every run.
func TestRetryUnderOneKeyAtOnce(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d.url(t))
			c, ids := b.hourlyRuns(t, 12)
			opts := admin.RetryOptions{Unknown: true, IdempotencyKey: "twice-at-once"}
			var (
				wg   sync.WaitGroup
				res  [2]admin.RetryResult
				errs [2]error
			)
			for i := range res {
				wg.Go(func() { res[i], errs[i] = b.client.RetryCampaignWith(b.ctx, c.ID, opts) })
			}
			wg.Wait()
			fresh := 0
			for i := range res {
				if errs[i] != nil || res[i].Reset != len(ids) || len(res[i].Runs) != len(ids) {
					t.Errorf("retry %d: %+v, %v; want all %d runs named", i, res[i], errs[i], len(ids))
				}
				for _, r := range res[i].Runs {
					if !r.Earlier {
						fresh++
					}
				}
			}
			if fresh != len(ids) {
				t.Errorf("runs re-opened by the two requests: %d, want %d (each once)", fresh, len(ids))
			}
			for _, id := range ids {
				run, _, err := b.store.GetRun(b.ctx, id)
				if err != nil || run.Retries != 1 {
					t.Errorf("run %d: retried %d times, %v; want once", id, run.Retries, err)
				}
			}
		})
	}
}

// TestRetryQueryAndKeyInput guards the input of a retry: ?unknown= given
// twice is refused rather than read as either, and an Idempotency-Key
// that breaks the rule is refused naming the header, both with nothing
// re-opened.
func TestRetryQueryAndKeyInput(t *testing.T) {
	t.Parallel()
	b := setup(t, dialects[1].url(t))
	c, ids := b.hourlyRuns(t, 1)
	for _, tc := range []struct {
		name, path, key, problem string
	}{
		{"unknown twice", fmt.Sprintf("/v1/campaigns/%d/retry?unknown=true&unknown=false", c.ID), "", `"path":"unknown","rule":"must be given once, got 2 values"`},
		{"unknown twice, run", fmt.Sprintf("/v1/runs/%d/retry?unknown=false&unknown=true", ids[0]), "", `"path":"unknown","rule":"must be given once, got 2 values"`},
		{"key with a space", fmt.Sprintf("/v1/campaigns/%d/retry?unknown=true", c.ID), "my key", `"path":"Idempotency-Key"`},
	} {
		r := b.call(t, "POST", tc.path, "Bearer "+tokenA, "", nil, withKey(tc.key))
		if r.status != http.StatusBadRequest || !strings.Contains(strings.ReplaceAll(r.body, " ", ""), strings.ReplaceAll(tc.problem, " ", "")) {
			t.Errorf("%s: %s; want 400 with %s", tc.name, r, tc.problem)
		}
	}
	if got := b.sendStatus(t, ids[0]); got != campaign.SendUnknown {
		t.Errorf("after the refused retries: send %s, want unknown", got)
	}
}
