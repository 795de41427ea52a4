package admin_test

// GET /v1/campaigns/{id} answers one page of a campaign's runs, not all of
// them. A review found that it used to return every run and every send,
// read whole by the store and encoded into one buffer: ~900 bytes a run, so
// a campaign firing every minute passed the CLI client's 64 MiB cap after
// 52 days (~75,000 runs) and `tagcast campaign show` failed with "decode
// answer: unexpected end of JSON input" (the client cut the answer short
// silently), while the server's memory and time grew without bound (90,000
// runs: a 77 MiB body, 822 MiB allocated, +340 MiB of heap). The tests
// below guard the paging, its parameters, and the client on a campaign of
// 90,000 runs.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
)

// manyRuns is the run count of the large-campaign tests: past the client's
// 64 MiB cap at ~900 bytes a run when the answer held every run.
const manyRuns = 90_000

const mib = 1 << 20

// bigEnv is a running admin API (production Serve) on a fresh PostgreSQL,
// with the CLI's client (NewClient with nil: its 30 s timeout too).
type bigEnv struct {
	ctx    context.Context
	url    string
	store  *sqlstore.Store
	client *admin.Client
}

func bigSetup(t *testing.T) bigEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	srv, err := admin.New(admin.Options{
		Tokens: []string{tokenA}, Apps: []string{"main"}, Store: st,
		Operations: admin.StoreOperations{Store: st}, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	url := "http://" + ln.Addr().String()
	c, err := admin.NewClient(url, tokenA, nil)
	if err != nil {
		t.Fatal(err)
	}
	return bigEnv{ctx: ctx, url: url, store: st, client: c}
}

// bigCampaign creates an every-minute cron campaign with n settled runs
// (one sent tag send each, the body copied from a real fired run; the
// newest run failed, the first, really fired, is pending) and returns its
// id. The rows are inserted with
// generate_series (PostgreSQL).
func bigCampaign(t *testing.T, e bigEnv, n int) int64 {
	t.Helper()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	file := fmt.Sprintf(`name: every-minute
app: main
schedule:
  cron: '* * * * *'
  start: %s
  deliver_within: 1m
vars: {product: Winter coat}
push:
  platform: [ios, android]
  fromuserid: system
  message: {objectName: AppNote, content: hi}
  audience: {tag: [女], is_to_all: false}
  notification: {title: Sale, alert: '{{.Vars.product}}: 30%% off'}
`, start.Format(time.RFC3339))
	c, err := campaign.ParseFile([]byte(file), campaign.ValidateOptions{Now: start.Add(-time.Hour), Apps: []string{"main"}})
	if err != nil {
		t.Fatalf("parse campaign: %v", err)
	}
	c, err = e.store.Create(e.ctx, c, start.Add(-time.Hour))
	if err != nil {
		t.Fatalf("create campaign: %v", err)
	}
	// One real fire gives a real run and a real rendered send body.
	runs, err := e.store.ClaimDue(e.ctx, start, start, 10, campaign.SimplePlan(time.Minute))
	if err != nil || len(runs) != 1 {
		t.Fatalf("ClaimDue: %d runs, %v; want 1", len(runs), err)
	}
	db := e.store.DB()
	if _, err := db.ExecContext(e.ctx, `
		INSERT INTO runs (campaign_id, app, scheduled_for, status, deliver_by, enqueued_at, retries, error, created_at, updated_at, finished_at)
		SELECT $1, 'main', ts, CASE WHEN g = $3::int - 1 THEN 'failed' ELSE 'done' END, ts + interval '1 minute', ts, 0, '', ts, ts + interval '2 second', ts + interval '2 second'
		FROM (SELECT g, $2::timestamptz + g * interval '1 minute' AS ts FROM generate_series(1, $3::int - 1) g) s`,
		c.ID, start, n); err != nil {
		t.Fatalf("insert runs: %v", err)
	}
	if _, err := db.ExecContext(e.ctx, `
		INSERT INTO sends (run_id, campaign_id, app, idx, body, status, attempts, claim, claimed_at, lease_until, sent_at,
		                   push_id, message_uid, last_code, claimed_by, created_at, updated_at)
		SELECT r.id, r.campaign_id, r.app, 0, b.body, 'sent', 1, 1, r.scheduled_for, r.scheduled_for + interval '1 minute', r.scheduled_for,
		       'push-' || r.id, 'UID-' || r.id, 200, 'worker-1:4242', r.scheduled_for, r.scheduled_for + interval '1 second'
		FROM runs r, (SELECT body FROM sends WHERE run_id = $2) b
		WHERE r.campaign_id = $1 AND r.id <> $2`, c.ID, runs[0].ID); err != nil {
		t.Fatalf("insert sends: %v", err)
	}
	if _, err := db.ExecContext(e.ctx, `ANALYZE runs; ANALYZE sends`); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	return c.ID
}

// getMeasure is one GET, as the server sees it.
type getMeasure struct {
	status    int
	bytes     int64
	total     time.Duration
	allocated uint64 // TotalAlloc growth over the request (server and store)
	peakHeap  uint64 // highest HeapAlloc sampled during the request, over the baseline
}

// measuredGet calls GET path with a plain HTTP client that reads the body
// into io.Discard, so the allocations are the server's (and the database
// driver's), not a client buffering the answer.
func measuredGet(t *testing.T, e bigEnv, path string) getMeasure {
	t.Helper()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokenA)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	m := getMeasure{status: resp.StatusCode}
	m.bytes, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	m.total = time.Since(start)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatalf("GET: read body: %v", err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	m.allocated = after.TotalAlloc - before.TotalAlloc
	if p := peak.Load(); p > before.HeapAlloc {
		m.peakHeap = p - before.HeapAlloc
	}
	return m
}

// TestShowCampaignOfManyRunsIsBounded: the answer to GET
// /v1/campaigns/{id}, and the server's memory for it, do not grow with the
// campaign's run count, for the default page and for the largest one.
//
// Not parallel: the measure is the process's heap while the request runs,
// and no parallel test runs beside a sequential one. (It was parallel, and a
// neighbour building its own 90,000 runs once put 43 MiB on one page's
// measure in a clean-clone CI run.)
func TestShowCampaignOfManyRunsIsBounded(t *testing.T) {
	e := bigSetup(t)
	id := bigCampaign(t, e, manyRuns)
	for _, tc := range []struct {
		query            string
		maxBody, maxPeak uint64
	}{
		{"", 512 << 10, 32 * mib},                               // 100 runs
		{"?runs_limit=1000", 4 * mib, 64 * mib},                 // 1000 runs
		{"?runs_limit=1000&runs_before=2", 512 << 10, 32 * mib}, // the oldest page: run 1 alone
	} {
		m := measuredGet(t, e, fmt.Sprintf("/v1/campaigns/%d%s", id, tc.query))
		t.Logf("GET /v1/campaigns/%d%s with %d runs: HTTP %d, %d bytes, done after %s; server allocated %.1f MiB, peak heap +%.1f MiB",
			id, tc.query, manyRuns, m.status, m.bytes, m.total.Round(time.Millisecond), float64(m.allocated)/mib, float64(m.peakHeap)/mib)
		if m.status != http.StatusOK {
			t.Fatalf("GET%s: HTTP %d, want 200", tc.query, m.status)
		}
		if uint64(m.bytes) > tc.maxBody {
			t.Errorf("GET%s: the answer for one campaign of %d runs is %d bytes (over %d): want one bounded page of runs", tc.query, manyRuns, m.bytes, tc.maxBody)
		}
		if m.peakHeap > tc.maxPeak {
			t.Errorf("GET%s: the server's heap grew by %.0f MiB for one GET of a %d-run campaign (over %d MiB)", tc.query, float64(m.peakHeap)/mib, manyRuns, tc.maxPeak/mib)
		}
	}
}

// TestClientShowsCampaignOfManyRuns: `tagcast campaign show` (the CLI's
// client) reads a campaign of 90,000 runs: its counts cover every run, the
// page is the newest runs, and the cursor leads to the older ones.
func TestClientShowsCampaignOfManyRuns(t *testing.T) {
	t.Parallel()
	e := bigSetup(t)
	id := bigCampaign(t, e, manyRuns)
	start := time.Now()
	d, err := e.client.GetCampaign(e.ctx, id)
	t.Logf("client GetCampaign(%d) with %d runs: %d runs back after %s, err=%v", id, manyRuns, len(d.Runs), time.Since(start).Round(time.Millisecond), err)
	if err != nil {
		t.Fatalf("GetCampaign on a %d-run campaign: %v", manyRuns, err)
	}
	if d.ID != id || len(d.Runs) != campaign.DefaultRunsLimit {
		t.Fatalf("GetCampaign: campaign %d with %d runs; want campaign %d with a page of %d", d.ID, len(d.Runs), id, campaign.DefaultRunsLimit)
	}
	if d.RunCounts[campaign.RunDone] != manyRuns-2 || d.RunCounts[campaign.RunFailed] != 1 || d.RunCounts[campaign.RunPending] != 1 {
		t.Errorf("run counts %v; want %d done, 1 failed (the newest) and 1 pending (the first, really fired)", d.RunCounts, manyRuns-2)
	}
	if d.Runs[0].Status != campaign.RunFailed || len(d.Runs[0].Sends) != 1 {
		t.Errorf("the newest run: %s with %d sends; want the failed one with its send", d.Runs[0].Status, len(d.Runs[0].Sends))
	}
	for i := 1; i < len(d.Runs); i++ {
		if d.Runs[i].ID >= d.Runs[i-1].ID {
			t.Fatalf("runs %d and %d out of order: want newest first", d.Runs[i-1].ID, d.Runs[i].ID)
		}
	}
	if d.RunsNext != d.Runs[len(d.Runs)-1].ID {
		t.Fatalf("runs_next %d; want the page's oldest run %d", d.RunsNext, d.Runs[len(d.Runs)-1].ID)
	}
	older, err := e.client.GetCampaignPage(e.ctx, id, campaign.RunsQuery{Before: d.RunsNext, Limit: campaign.MaxRunsLimit})
	if err != nil || len(older.Runs) != campaign.MaxRunsLimit || older.Runs[0].ID >= d.RunsNext || older.RunsNext == 0 {
		t.Errorf("the next page: %d runs, first %v, next %d, %v; want %d older runs and a cursor", len(older.Runs), older.Runs[0].ID, older.RunsNext, err, campaign.MaxRunsLimit)
	}
}

// An answer over the client's 64 MiB cap is an error that names the cap,
// not "unexpected end of JSON input" from an answer cut short.
func TestClientRefusesAnswerOverItsLimit(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		pad := []byte(strings.Repeat(" ", mib))
		for range 64 {
			if _, err := w.Write(pad); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `{"id": 1, "runs": []}`)
	}))
	t.Cleanup(hs.Close)
	c, err := admin.NewClient(hs.URL, tokenA, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetCampaign(context.Background(), 1)
	var ae *admin.APIError
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "over the client's limit of 64 MiB") {
		t.Fatalf("GetCampaign of a 64 MiB + 21 byte answer: %v; want an error naming the 64 MiB limit", err)
	}
}

// Paging through HTTP on both dialects: every run comes exactly once,
// newest first, and run_counts agree with the runs walked.
func TestShowCampaignPagesRuns(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d.url(t))
			c := createEveryMinute(t, b)
			const n = 17
			var ids []int64
			for i := range n {
				at := t0.Add(time.Duration(i+1) * time.Minute)
				runs, err := b.store.ClaimDue(b.ctx, at, at, 10, campaign.SimplePlan(time.Minute))
				if err != nil || len(runs) != 1 {
					t.Fatalf("ClaimDue at %s = %v, %v", at, runs, err)
				}
				ids = append(ids, runs[0].ID)
				if i%3 == 0 {
					if _, err := b.store.ExpireRun(b.ctx, runs[0].ID, at.Add(time.Hour)); err != nil { // past its deliver_within
						t.Fatal(err)
					}
				}
			}
			seen := map[int64]int{}
			walked := map[campaign.RunStatus]int{}
			var order []int64
			q := campaign.RunsQuery{Limit: 4}
			for pages := 1; ; pages++ {
				page, err := b.client.GetCampaignPage(b.ctx, c.ID, q)
				if err != nil {
					t.Fatalf("page %d (%+v): %v", pages, q, err)
				}
				if got := page.RunCounts[campaign.RunExpired] + page.RunCounts[campaign.RunPending]; got != n || page.RunCounts[campaign.RunExpired] != 6 {
					t.Errorf("page %d: run counts %v; want 6 expired and %d pending", pages, page.RunCounts, n-6)
				}
				for _, r := range page.Runs {
					seen[r.ID]++
					walked[r.Status]++
					order = append(order, r.ID)
					if len(r.Sends) != 1 {
						t.Errorf("run %d: %d sends, want its 1", r.ID, len(r.Sends))
					}
				}
				if page.RunsNext == 0 {
					if pages != 5 {
						t.Errorf("%d runs in pages of 4: %d pages, want 5", n, pages)
					}
					break
				}
				if pages > n {
					t.Fatal("the walk does not end")
				}
				q.Before = page.RunsNext
			}
			if len(seen) != n {
				t.Errorf("the walk saw %d runs, want %d", len(seen), n)
			}
			for id, k := range seen {
				if k != 1 {
					t.Errorf("run %d came %d times", id, k)
				}
			}
			for i, id := range order {
				if id != ids[n-1-i] {
					t.Fatalf("walk order %v; want the runs newest first %v", order, ids)
				}
			}
			if walked[campaign.RunExpired] != 6 || walked[campaign.RunPending] != n-6 {
				t.Errorf("statuses walked %v; want 6 expired and %d pending", walked, n-6)
			}

			// --all's walk: every run in one answer.
			all, err := b.client.GetCampaignAll(b.ctx, c.ID, 5)
			if err != nil || len(all.Runs) != n || all.RunsNext != 0 || all.Runs[0].ID != ids[n-1] {
				t.Errorf("GetCampaignAll = %d runs, next %d, %v; want all %d newest first", len(all.Runs), all.RunsNext, err, n)
			}

			// One run of the campaign; a run of another campaign is 404.
			rd, err := b.client.GetRun(b.ctx, c.ID, ids[3])
			if err != nil || rd.ID != ids[3] || rd.CampaignID != c.ID || len(rd.Sends) != 1 {
				t.Errorf("GetRun(%d, %d) = run %d of %d with %d sends, %v", c.ID, ids[3], rd.ID, rd.CampaignID, len(rd.Sends), err)
			}
			other := createEveryMinute(t, b)
			var ae *admin.APIError
			if _, err := b.client.GetRun(b.ctx, other.ID, ids[3]); !errors.As(err, &ae) || ae.Status != http.StatusNotFound || !strings.Contains(ae.ErrorBody.Error, fmt.Sprintf("campaign %d has no run %d", other.ID, ids[3])) {
				t.Errorf("GetRun of another campaign's run: %v; want 404 saying the campaign has no such run", err)
			}
			if _, err := b.client.GetRun(b.ctx, 999999, ids[3]); !errors.As(err, &ae) || ae.Status != http.StatusNotFound || !strings.Contains(ae.ErrorBody.Error, "campaign 999999") {
				t.Errorf("GetRun of a missing campaign: %v; want 404 naming the campaign", err)
			}
		})
	}
}

// createEveryMinute creates an every-minute campaign starting at t0.
func createEveryMinute(t *testing.T, b bundle) campaign.Campaign {
	t.Helper()
	c, err := b.client.CreateCampaign(b.ctx, []byte(`name: every-minute
app: main
schedule: {cron: '* * * * *', missed: skip, deliver_within: 1h}
push:
  platform: [ios]
  fromuserid: system
  message: {objectName: AppNote, content: hi}
  audience: {tag: [vip], is_to_all: false}
  notification: {alert: hi}
`), "application/yaml")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return c
}

// The page parameters are checked, every problem at once, like the list's.
func TestShowCampaignPagingParameters(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	c := createEveryMinute(t, b)
	for _, tc := range []struct {
		query string
		want  []string // "path: rule fragment"
	}{
		{"?runs_limit=0", []string{`runs_limit: must be an integer from 1 to 1000, got "0"`}},
		{"?runs_limit=1001", []string{`runs_limit: must be an integer from 1 to 1000, got "1001"`}},
		{"?runs_limit=ten", []string{`runs_limit: must be an integer from 1 to 1000, got "ten"`}},
		{"?runs_before=0", []string{`runs_before: must be a run id (a positive integer`}},
		{"?runs_before=-3", []string{`runs_before: must be a run id`}},
		{"?runs_before=x&runs_limit=-1", []string{`runs_limit: must be an integer from 1 to 1000`, `runs_before: must be a run id`}},
		{"?limit=5", []string{`limit: unknown query parameter (known: runs_limit, runs_before)`}},
		{"?runs=5&runs_limit=5", []string{`runs: unknown query parameter`}},
	} {
		r := b.call(t, "GET", fmt.Sprintf("/v1/campaigns/%d%s", c.ID, tc.query), "Bearer "+tokenA, "", nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("GET%s: %s; want 400", tc.query, r)
			continue
		}
		var body admin.ErrorBody
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("GET%s: %s: %v", tc.query, r, err)
		}
		var got []string
		for _, p := range body.Problems {
			got = append(got, p.String())
		}
		for _, want := range tc.want {
			found := false
			for _, g := range got {
				found = found || strings.Contains(g, want)
			}
			if !found {
				t.Errorf("GET%s: problems %q; want one with %q", tc.query, got, want)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("GET%s: problems %q; want %d", tc.query, got, len(tc.want))
		}
	}
	if r := b.call(t, "GET", fmt.Sprintf("/v1/campaigns/%d?runs_limit=1000&runs_before=1", c.ID), "Bearer "+tokenA, "", nil); r.status != http.StatusOK ||
		!strings.Contains(r.body, `"runs":[]`) || !strings.Contains(r.body, `"run_counts":{`) || strings.Contains(r.body, "runs_next") {
		t.Errorf("GET with the largest page before run 1: %s; want 200, no runs, the counts, no runs_next", r)
	}
	for _, target := range []string{fmt.Sprintf("/v1/campaigns/%d/runs/0", c.ID), fmt.Sprintf("/v1/campaigns/%d/runs/abc", c.ID), fmt.Sprintf("/v1/campaigns/%d/runs/1?x=1", c.ID)} {
		if r := b.call(t, "GET", target, "Bearer "+tokenA, "", nil); r.status != http.StatusBadRequest {
			t.Errorf("GET %s: %s; want 400", target, r)
		}
	}
}
