package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
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

// hookStore is the API's campaign store with a hook that runs once,
// right after the first RunsWithStatus has read the retryable runs: what
// another operator or a worker does while a request is being handled.
type hookStore struct {
	*sqlstore.Store
	once     sync.Once
	afterGet func()
}

func (s *hookStore) RunsWithStatus(ctx context.Context, campaignID int64, statuses []campaign.RunStatus, afterID int64, limit int) ([]campaign.Run, error) {
	runs, err := s.Store.RunsWithStatus(ctx, campaignID, statuses, afterID, limit)
	if s.afterGet != nil {
		s.once.Do(s.afterGet)
	}
	return runs, err
}

// downEnqueuer stands in for an asynq client whose Redis is down.
type downEnqueuer struct{}

func (downEnqueuer) EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error) {
	return nil, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
}

// opsServer wires the API as `tagcast api` does (the scheduler's
// operations facade) on a SQLite store, with an optional hook after Get and
// the given queue client.
func opsServer(t *testing.T, afterGet func(st *sqlstore.Store), enq interface {
	EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error)
}) wiredEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hs := &hookStore{Store: st}
	if afterGet != nil {
		hs.afterGet = func() { afterGet(st) }
	}
	clock := &fakeClock{t: t0}
	ops, err := scheduler.NewOperations(scheduler.OperationsConfig{Store: st, Queue: enq, Clock: clock, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Options{
		Tokens: []string{tokenA}, Apps: []string{"main"},
		Store: hs, Operations: ops, Now: clock.Now, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return wiredEnv{store: st, clock: clock, h: srv.Handler()}
}

// twoHourlyRuns creates an hourly campaign and fires it twice (10:00 and
// 11:00 UTC); it returns the campaign and the two runs' ids.
func twoHourlyRuns(t *testing.T, e wiredEnv) (campaign.Campaign, int64, int64) {
	t.Helper()
	c := e.create(t, "hourly", `"cron": "0 * * * *"`)
	var ids []int64
	for _, at := range []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
		runs, err := e.store.ClaimDue(context.Background(), at, at, 10, campaign.SimplePlan(time.Minute))
		if err != nil || len(runs) != 1 {
			t.Fatalf("ClaimDue at %s = %v, %v", at, runs, err)
		}
		ids = append(ids, runs[0].ID)
	}
	return c, ids[0], ids[1]
}

// A campaign retry that meets a run it can no longer re-open (a worker's
// late 200 settled it done, or another operator re-opened it first) skips
// it, as it skips one with nothing to retry, and answers 200 with the runs
// it did re-open. It used to answer 409 for the whole request although the
// runs before were already re-opened and their sends would go out again.
func TestRetryCampaignSkipsRunsThatChangedMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		query string
		// second settles run B and returns what happens to it right after
		// the handler read the campaign.
		second func(t *testing.T, e wiredEnv, runB int64) func(st *sqlstore.Store)
	}{
		{
			name:  "a late 200 settles the other run done",
			query: "?unknown=true",
			second: func(t *testing.T, e wiredEnv, runB int64) func(st *sqlstore.Store) {
				now := t0.Add(2 * time.Hour)
				if _, err := e.store.StartRun(ctx, runB, now); err != nil {
					t.Fatal(err)
				}
				_, sends, err := e.store.GetRun(ctx, runB)
				if err != nil || len(sends) != 1 {
					t.Fatalf("run %d: %d sends, %v", runB, len(sends), err)
				}
				sd, err := e.store.ClaimSend(ctx, sends[0].ID, now, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.store.RecordOutcome(ctx, sd.Token(), campaign.Outcome{Status: campaign.SendUnknown, Message: "timeout", At: now}); err != nil {
					t.Fatal(err)
				}
				if r, err := e.store.FinishRun(ctx, runB, now); err != nil || r.Status != campaign.RunFailed {
					t.Fatalf("finish run B: %s, %v", r.Status, err)
				}
				return func(st *sqlstore.Store) {
					// The worker's answer for that very claim arrives late.
					if _, err := st.RecordOutcome(ctx, sd.Token(), campaign.Outcome{Status: campaign.SendSent, PushID: "p", MessageUID: "UID-late", At: now.Add(time.Minute)}); err != nil {
						t.Errorf("late sent: %v", err)
					}
				}
			},
		},
		{
			name: "another operator re-opened the other run",
			second: func(t *testing.T, e wiredEnv, runB int64) func(st *sqlstore.Store) {
				e.settleOne(t, runB, t0.Add(2*time.Hour), campaign.SendFailed)
				return func(st *sqlstore.Store) {
					// POST /v1/runs/{B}/retry by a second operator.
					if _, err := st.ResetForRetry(ctx, runB, campaign.RetryOptions{}, t0.Add(3*time.Hour)); err != nil {
						t.Errorf("concurrent retry of run B: %v", err)
					}
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hook func(st *sqlstore.Store)
			e := opsServer(t, func(st *sqlstore.Store) { hook(st) }, &countingEnqueuer{})
			c, runA, runB := twoHourlyRuns(t, e)
			e.settleOne(t, runA, t0.Add(time.Hour), campaign.SendFailed)
			hook = tc.second(t, e, runB)
			e.clock.Set(t0.Add(3 * time.Hour))

			code, body := e.do(t, "POST", fmt.Sprintf("/v1/campaigns/%d/retry%s", c.ID, tc.query), "", "")
			a, _, err := e.store.GetRun(ctx, runA)
			if err != nil {
				t.Fatal(err)
			}
			if code != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`"runs":[{"run_id":%d,"reset":1}]`, runA)) {
				t.Errorf("retry campaign: HTTP %d %s\nyet run A (%d) is now %s with %d retries: its failed send will be sent again; want 200 reporting run A reset",
					code, body, runA, a.Status, a.Retries)
			}
		})
	}
}

// With the scheduler's facade (as `tagcast api` wires it), a retry whose
// enqueue fails after the reset (Redis down) has still re-opened the run,
// and the reconciler enqueues it: the API answers 200 with what it reset and
// a warning, not a bare 500 that tells the operator nothing happened while
// the sends will go out again.
func TestRetryReportsResetRunsWhenTheEnqueueFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, target := range []string{"run", "campaign"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			e := opsServer(t, nil, downEnqueuer{})
			c := e.create(t, "now", `"now": true`)
			runs, err := e.store.ClaimDue(ctx, t0, t0, 10, campaign.SimplePlan(time.Minute))
			if err != nil || len(runs) != 1 {
				t.Fatalf("ClaimDue = %v, %v", runs, err)
			}
			e.settleOne(t, runs[0].ID, t0, campaign.SendFailed)
			e.clock.Set(t0.Add(time.Hour))

			path := fmt.Sprintf("/v1/runs/%d/retry", runs[0].ID)
			if target == "campaign" {
				path = fmt.Sprintf("/v1/campaigns/%d/retry", c.ID)
			}
			code, body := e.do(t, "POST", path, "", "")
			r, sends, err := e.store.GetRun(ctx, runs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != campaign.RunPending || r.Retries != 1 || sends[0].Status != campaign.SendPending {
				t.Fatalf("the store: run %s retries %d send %s; want the reset done", r.Status, r.Retries, sends[0].Status)
			}
			var res admin.RetryResult
			if code != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil || res.Reset != 1 {
				t.Errorf("POST %s: HTTP %d %s; the run was re-opened (pending, retries 1) and will be sent by the reconciler, want 200 with reset 1", path, code, body)
			}
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "reconciler") || !strings.Contains(res.Warnings[0], "connection refused") {
				t.Errorf("POST %s: warnings %q; want one saying the run was not queued at once, why, and that the reconciler queues it", path, res.Warnings)
			}
		})
	}
}

// Client escapes each path segment once: a user id with a space or any
// non-ASCII character reaches the server whole. Escaped twice, "user 1"
// arrived as "user%201" and SetUserTags replaced another user's tags.
func TestClientEscapesPathSegmentsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	for _, user := range []string{"user 1", "用户1"} {
		res, err := b.client.SetUserTags(b.ctx, "main", user, []string{"vip"})
		if err != nil {
			t.Fatalf("SetUserTags(%q): %v", user, err)
		}
		got, err := b.client.GetUserTags(b.ctx, "main", []string{user})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.UserIDs, []string{user}) || !slices.Equal(got.Users[user], []string{"vip"}) {
			t.Errorf("SetUserTags(%q, [vip]): the server set the tags of %q; GetUserTags(%q) = %q; want %q tagged vip",
				user, res.UserIDs, user, got.Users[user], user)
		}
	}
}

// An RFC 3339 instant past year 9999 in UTC (a "forever" end written with a
// negative offset) is refused with 400 naming the field; it used to pass
// validation and fail in the store with a 500.
func TestCreateRefusesInstantsPastYear9999(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	const push = "push: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}\n"
	for path, file := range map[string]string{
		"schedule.at":  "name: a\napp: main\nschedule: {at: 9999-12-31T23:59:59-01:00}\n" + push,
		"schedule.end": "name: c\napp: main\nschedule: {cron: '0 9 * * *', end: 9999-12-31T23:59:59-05:00}\n" + push,
	} {
		r := b.call(t, "POST", "/v1/campaigns", "Bearer "+tokenA, "application/yaml", strings.NewReader(file))
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, `"path":"`+path+`"`) {
			t.Errorf("create with %s past year 9999 in UTC: %s; want 400 naming %s", path, r, path)
		}
	}
}

// A campaign file is one campaign: a YAML file with a second document, or a
// JSON body with a second object, is refused with 400. It used to create the
// first and drop the second without a word.
func TestCreateRefusesASecondCampaignInOneBody(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	const yamlPush = "push: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hi}}\n"
	const jsonCampaign = `{"name": %q, "app": "main", "schedule": {"now": true}, "push": {"platform": ["ios"], "fromuserid": "s",
		"message": {"objectName": "AppNote", "content": "hi"}, "audience": {"is_to_all": true}, "notification": {"alert": "hi"}}}`
	for _, tc := range []struct{ ct, body string }{
		{"application/yaml", "name: first\napp: main\nschedule: {now: true}\n" + yamlPush + "---\nname: second\napp: main\nschedule: {now: true}\n" + yamlPush},
		{"application/json", fmt.Sprintf(jsonCampaign, "first") + "\n" + fmt.Sprintf(jsonCampaign, "second")},
	} {
		r := b.call(t, "POST", "/v1/campaigns", "Bearer "+tokenA, tc.ct, strings.NewReader(tc.body))
		if r.status != http.StatusBadRequest {
			t.Errorf("%s body with two campaigns: %s; want 400 (one campaign per file), not the first created and the second dropped", tc.ct, r)
		}
	}
}
