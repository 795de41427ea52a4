package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/scheduler"
)

// countingEnqueuer stands in for the asynq client: every enqueue succeeds.
type countingEnqueuer struct {
	mu    sync.Mutex
	tasks int
}

func (e *countingEnqueuer) EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tasks++
	return &asynq.TaskInfo{}, nil
}

type wiredEnv struct {
	store *sqlstore.Store
	clock *fakeClock
	h     http.Handler
}

// wiredServer is the admin API wired as `tagcast serve` / `tagcast api`
// wire it (cmd/tagcast/serve.go startAPI): the scheduler's operations
// facade, not admin.StoreOperations (which the package's own tests use).
func wiredServer(t *testing.T, dbURL string) wiredEnv {
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
	clock := &fakeClock{t: t0}
	ops, err := scheduler.NewOperations(scheduler.OperationsConfig{Store: st, Queue: &countingEnqueuer{}, Clock: clock, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Options{
		Tokens: []string{tokenA}, Apps: []string{"main"},
		Store: st, Operations: ops, Now: clock.Now, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return wiredEnv{store: st, clock: clock, h: srv.Handler()}
}

func (e wiredEnv) do(t *testing.T, method, path, contentType, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokenA)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// settleOne claims, records and finishes the single pending send of a run.
func (e wiredEnv) settleOne(t *testing.T, runID int64, now time.Time, outcome campaign.SendStatus) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.store.StartRun(ctx, runID, now); err != nil {
		t.Fatal(err)
	}
	_, sends, err := e.store.GetRun(ctx, runID)
	if err != nil || len(sends) != 1 {
		t.Fatalf("run %d: %d sends, %v", runID, len(sends), err)
	}
	sd, err := e.store.ClaimSend(ctx, sends[0].ID, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.RecordOutcome(ctx, sd.Token(), campaign.Outcome{Status: outcome, Code: 1002, At: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.FinishRun(ctx, runID, now); err != nil {
		t.Fatal(err)
	}
}

const wiredTagCampaign = `{"name": %q, "app": "main", "schedule": {%s},
	"push": {"platform": ["ios"], "fromuserid": "s", "message": {"objectName": "AppNote", "content": "hi"},
	"audience": {"tag": ["vip"]}, "notification": {"alert": "hi"}}}`

func (e wiredEnv) create(t *testing.T, name, schedule string) campaign.Campaign {
	t.Helper()
	code, body := e.do(t, "POST", "/v1/campaigns", "application/json", fmt.Sprintf(wiredTagCampaign, name, schedule))
	if code != 201 {
		t.Fatalf("create: HTTP %d %s", code, body)
	}
	var c campaign.Campaign
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// Wired as serve wires it (the scheduler's facade reports nothing to retry
// as campaign.ErrNothingToRetry), a run with only an unknown send answers
// 409 to a retry without unknown=true, not 500.
func TestWiredRetryRunWithNothingToRetryIs409(t *testing.T) {
	t.Parallel()
	e := wiredServer(t, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"))
	e.create(t, "now", `"now": true`)
	runs, err := e.store.ClaimDue(context.Background(), t0, t0, 10, campaign.SimplePlan(time.Minute))
	if err != nil || len(runs) != 1 {
		t.Fatalf("ClaimDue = %v, %v", runs, err)
	}
	e.settleOne(t, runs[0].ID, t0, campaign.SendUnknown)

	code, body := e.do(t, "POST", fmt.Sprintf("/v1/runs/%d/retry", runs[0].ID), "", "")
	if code != http.StatusConflict || !strings.Contains(body, "nothing to retry") {
		t.Errorf("retry a run with only an unknown send (unknown=false): HTTP %d %s; want 409 (api/openapi.yaml: nothing to retry)", code, body)
	}
}

// A campaign retry skips a settled run that has nothing to retry (only an
// unknown send) and re-opens the others: 200 with what it reset, not a 500
// after a change it would then hide.
func TestWiredRetryCampaignSkipsRunsWithNothingToRetry(t *testing.T) {
	t.Parallel()
	e := wiredServer(t, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"))
	c := e.create(t, "hourly", `"cron": "0 * * * *"`) // first fire 10:00 UTC
	ctx := context.Background()
	var runIDs []int64
	for _, at := range []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
		runs, err := e.store.ClaimDue(ctx, at, at, 10, campaign.SimplePlan(time.Minute))
		if err != nil || len(runs) != 1 || runs[0].CampaignID != c.ID {
			t.Fatalf("ClaimDue at %s = %v, %v", at, runs, err)
		}
		runIDs = append(runIDs, runs[0].ID)
	}
	e.settleOne(t, runIDs[0], t0.Add(time.Hour), campaign.SendFailed)
	e.settleOne(t, runIDs[1], t0.Add(2*time.Hour), campaign.SendUnknown)
	e.clock.Set(t0.Add(3 * time.Hour))

	code, body := e.do(t, "POST", fmt.Sprintf("/v1/campaigns/%d/retry", c.ID), "", "")
	d, err := e.store.Get(ctx, c.ID, campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`"runs":[{"run_id":%d,"reset":1}]`, runIDs[0])) {
		t.Errorf("retry campaign: HTTP %d %s; want 200 with run %d reset (run statuses now: %s, %s)",
			code, body, runIDs[0], d.Runs[1].Status, d.Runs[0].Status) // newest first
	}
}

// A NUL character, which PostgreSQL cannot store in text or jsonb, gets
// the same 400 naming the field on both dialects, in a name, a var or the
// push body, and in a list filter; nothing is stored.
func TestWiredNULIsA400OnBothDialects(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			e := wiredServer(t, d.url(t))
			for path, file := range map[string]string{
				"name": `{"name": "n\u0000ul", "app": "main", "schedule": {"now": true},
					"push": {"platform": ["ios"], "fromuserid": "s", "message": {"objectName": "AppNote", "content": "hi"},
					"audience": {"tag": ["vip"]}, "notification": {"alert": "hi"}}}`,
				"vars.x": `{"name": "nul", "app": "main", "schedule": {"now": true}, "vars": {"x": "a\u0000"},
					"push": {"platform": ["ios"], "fromuserid": "s", "message": {"objectName": "AppNote", "content": "hi"},
					"audience": {"tag": ["vip"]}, "notification": {"alert": "hi"}}}`,
				"push.notification.alert": `{"name": "nul", "app": "main", "schedule": {"now": true},
					"push": {"platform": ["ios"], "fromuserid": "s", "message": {"objectName": "AppNote", "content": "hi"},
					"audience": {"tag": ["vip"]}, "notification": {"alert": "h\u0000i"}}}`,
			} {
				code, body := e.do(t, "POST", "/v1/campaigns", "application/json", file)
				if code != http.StatusBadRequest || !strings.Contains(body, `"path":"`+path+`"`) || !strings.Contains(body, "NUL") {
					t.Errorf("create with a NUL in %s: HTTP %d %s; want 400 naming it", path, code, body)
				}
			}
			code, body := e.do(t, "GET", "/v1/campaigns?name=%00", "", "")
			if code != http.StatusBadRequest || !strings.Contains(body, `"path":"name"`) {
				t.Errorf("GET /v1/campaigns?name=%%00: HTTP %d %s; want 400 naming name", code, body)
			}
			if list, _, err := e.store.List(context.Background(), campaign.ListFilter{}); err != nil || len(list) != 0 {
				t.Errorf("stored after refusals: %d campaigns, %v", len(list), err)
			}
		})
	}
}

// api/openapi.yaml gives the name maxLength 200, which counts characters:
// a 100-character Chinese name (300 bytes) is valid, 201 characters are not.
func TestWiredCampaignNameMaxLengthIsCharacters(t *testing.T) {
	t.Parallel()
	e := wiredServer(t, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"))
	name := strings.Repeat("冬", 100)
	code, body := e.do(t, "POST", "/v1/campaigns", "application/json", fmt.Sprintf(wiredTagCampaign, name, `"now": true`))
	if code != http.StatusCreated {
		t.Errorf("create with a 100-character name: HTTP %d %s; want 201 (openapi maxLength 200)", code, body)
	}
	code, body = e.do(t, "POST", "/v1/campaigns", "application/json", fmt.Sprintf(wiredTagCampaign, strings.Repeat("冬", 201), `"now": true`))
	if code != http.StatusBadRequest || !strings.Contains(body, "at most 200 characters") {
		t.Errorf("create with a 201-character name: HTTP %d %s; want 400", code, body)
	}
}
