package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/admin/monitoring"
	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/scheduler"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The scheduler's operations facade is what production wires in.
var _ admin.Operations = (*scheduler.Operations)(nil)

// Tokens: the server accepts both; tests use the second to show every token
// is compared.
const (
	tokenA      = "tok-AAAAAAAAAAAAAAAAAAAAAAAA"
	tokenB      = "tok-BBBBBBBBBBBBBBBBBBBBBBBB"
	appSecret   = "SECRET-of-main-9f8e7d"
	wrongSecret = "SECRET-wrong-000000"
)

// t0 is the injected clock's start.
var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// dialects are the stores the API runs on in these tests.
var dialects = []struct {
	name string
	url  func(t testing.TB) string
}{
	{"postgres", func(t testing.TB) string { return testenv.Postgres(t) }},
	{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db") }},
}

// fakeClock is the injected clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// After is real time: the scheduler's facade (scheduler.Clock) never waits
// in these tests.
func (c *fakeClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// bundle is what an admin test needs: a running API over real HTTP on a
// real store, real Redis and the emulator.
type bundle struct {
	ctx    context.Context
	url    string
	client *admin.Client
	store  *sqlstore.Store
	clock  *fakeClock
	redis  *testenv.RedisServer
	guard  *quota.Guard
	emu    *emulator.Emulator
	logs   *testenv.Buffer
	probe  prometheus.Counter // registered on the gatherer /metrics serves
}

// setup starts the API on the store at dbURL.
func setup(t *testing.T, dbURL string) bundle {
	t.Helper()
	ctx := context.Background()
	b := bundle{ctx: ctx, clock: &fakeClock{t: t0}, logs: &testenv.Buffer{}}

	st := migratedStore(t, dbURL)
	b.store = st

	b.redis = testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: b.redis.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	guard, err := quota.New(quota.Options{
		Client: rdb, Ledger: st, Now: b.clock.Now, Logger: zerolog.Nop(),
		Apps: map[string]quota.Policy{"main": quota.DefaultPolicy(), "bad": {Hourly: 5, Daily: 10, HourWindow: quota.HourClock}},
	})
	if err != nil {
		t.Fatalf("quota guard: %v", err)
	}
	b.guard = guard

	b.emu, err = emulator.New(emulator.Config{Freshness: -1, Apps: []emulator.AppConfig{
		{AppKey: "key-main", Secret: appSecret},
		{AppKey: "key-bad", Secret: appSecret},
	}})
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	emuSrv := httptest.NewServer(b.emu)
	t.Cleanup(emuSrv.Close)
	tagClient := func(key, secret string) *pushapi.Client {
		c, err := pushapi.NewClient(pushapi.ClientConfig{AppKey: key, AppSecret: pushapi.NewSecret(secret), Hosts: []string{emuSrv.URL}, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("pushapi client: %v", err)
		}
		return c
	}

	reg := prometheus.NewRegistry()
	b.probe = prometheus.NewCounter(prometheus.CounterOpts{Name: "tagcast_test_probe_total", Help: "a metric registered by the test"})
	reg.MustRegister(b.probe)

	ui := monitoring.New(asynq.RedisClientOpt{Addr: b.redis.Addr})
	t.Cleanup(func() { _ = ui.Close() })

	srv, err := admin.New(admin.Options{
		Tokens:     []string{tokenA, tokenB},
		Apps:       []string{"main", "bad"},
		Store:      st,
		Operations: admin.StoreOperations{Store: st, Now: b.clock.Now},
		Quota:      guard,
		Tags:       map[string]admin.TagService{"main": tagClient("key-main", appSecret), "bad": tagClient("key-bad", wrongSecret)},
		Ready: []admin.Check{
			{Name: "store", Pinger: admin.PingFunc(func(ctx context.Context) error { return st.DB().PingContext(ctx) })},
			{Name: "redis", Pinger: admin.PingFunc(func(ctx context.Context) error { return rdb.Ping(ctx).Err() })},
		},
		Gatherer:   reg,
		Registerer: reg,
		Monitoring: ui,
		Now:        b.clock.Now,
		Logger:     zerolog.New(b.logs),
	})
	if err != nil {
		t.Fatalf("admin.New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	b.url = hs.URL
	b.client, err = admin.NewClient(hs.URL, tokenB, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, secret := range []string{tokenA, tokenB, appSecret, wrongSecret} {
			if strings.Contains(b.logs.String(), secret) {
				t.Errorf("the server log reveals %q", secret)
			}
		}
	})
	return b
}

// response is a raw answer.
type response struct {
	status int
	header http.Header
	body   string
}

func (r response) String() string { return fmt.Sprintf("HTTP %d %s", r.status, r.body) }

// call sends a raw request with the given Authorization header value, and
// the headers in extra.
func (b bundle) call(t *testing.T, method, path, auth, contentType string, body io.Reader, extra ...http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, method, b.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range extra {
		for k, vs := range h {
			req.Header[k] = vs
		}
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// withKey is an Idempotency-Key header; none for "".
func withKey(key string) http.Header {
	if key == "" {
		return nil
	}
	return http.Header{admin.HeaderIdempotencyKey: {key}}
}

// campaignYAML is a valid campaign file of app main firing at `at`.
func campaignYAML(name string, at time.Time) string {
	return fmt.Sprintf(`name: %s
app: main
schedule:
  at: %s
  deliver_within: 2h
vars: {product: Winter coat}
push:
  platform: [ios, android]
  fromuserid: system
  message: {objectName: AppNote, content: hi}
  audience: {tag: [女], is_to_all: false}
  notification: {title: Sale, alert: '{{.Vars.product}}: 30%% off'}
`, name, at.Format(time.RFC3339))
}

// fire claims every campaign due at now and returns the runs created.
func (b bundle) fire(t *testing.T, now time.Time) []campaign.Run {
	t.Helper()
	runs, err := b.store.ClaimDue(b.ctx, now, now, 100, campaign.SimplePlan(time.Minute))
	if err != nil {
		t.Fatalf("ClaimDue: %v", err)
	}
	return runs
}

// settle sends each send of a run with the given outcomes, in index order,
// and finishes the run.
func (b bundle) settle(t *testing.T, runID int64, now time.Time, outcomes ...campaign.SendStatus) {
	t.Helper()
	if _, err := b.store.StartRun(b.ctx, runID, now); err != nil {
		t.Fatalf("start run %d: %v", runID, err)
	}
	_, sends, err := b.store.GetRun(b.ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sends) != len(outcomes) {
		t.Fatalf("run %d has %d sends, want %d", runID, len(sends), len(outcomes))
	}
	for i, sd := range sends {
		sd, err := b.store.ClaimSend(b.ctx, sd.ID, now, time.Minute)
		if err != nil {
			t.Fatalf("claim send %d: %v", sd.ID, err)
		}
		o := campaign.Outcome{Status: outcomes[i], At: now}
		switch outcomes[i] {
		case campaign.SendSent:
			o.PushID, o.MessageUID, o.Code = fmt.Sprintf("push-%d", sd.ID), fmt.Sprintf("UID-%d", sd.ID), 200
		case campaign.SendFailed:
			o.Code, o.Message = 1002, "parameter error"
		}
		if _, err := b.store.RecordOutcome(b.ctx, sd.Token(), o); err != nil {
			t.Fatalf("record %s: %v", o.Status, err)
		}
	}
	if _, err := b.store.FinishRun(b.ctx, runID, now); err != nil {
		t.Fatalf("finish run %d: %v", runID, err)
	}
}
