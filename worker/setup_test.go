package worker_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	testenv.Main(m)
}

const (
	testApp    = "main"
	testKey    = "uwd1c0sxdlx2"
	testSecret = "test-secret-not-real"
)

// t0 is the simulated start: 09:00 in Shanghai.
var t0 = time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)

// fakeClock is a simulated clock. With jump set, Wait moves it to the
// instant waited for at once (simulated time passes instantly); without,
// Wait never reaches a future instant and the handler snoozes.
type fakeClock struct {
	mu   sync.Mutex
	t    time.Time
	jump bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Wait(ctx context.Context, until time.Time, _ time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.t.Before(until) {
		return true, nil
	}
	if c.jump {
		c.t = until
		return true, nil
	}
	return false, ctx.Err()
}

// env is what an in-process test needs: a store on PostgreSQL, Redis, the
// emulator, a guard and a handler, all on one simulated clock.
type env struct {
	t       *testing.T
	ctx     context.Context
	clock   *fakeClock
	store   *sqlstore.Store
	rdb     *redis.Client
	redis   *testenv.RedisServer
	emu     *emulator.Emulator
	srvURL  string
	client  *pushapi.Client
	guard   *quota.Guard
	handler *worker.Handler
	policy  quota.Policy
}

type envOpts struct {
	policy        quota.Policy // zero: 100 an hour, 1000 a day
	emuQuota      *emulator.Quota
	backoff       worker.Backoff
	clientTimeout time.Duration
	jump          bool
	metrics       *worker.Metrics
	// wrap wraps the app's client (to count calls or act between them).
	wrap func(worker.Pusher) worker.Pusher
	// pushDisabled: the emulator answers 430/1009.
	pushDisabled bool
}

func setup(t *testing.T, o envOpts) *env {
	t.Helper()
	ctx := t.Context()
	if o.policy.Hourly == 0 {
		o.policy = quota.Policy{Hourly: 100, Daily: 1000}
	}
	eq := emulator.Quota{Hourly: o.policy.Hourly, Daily: o.policy.Daily}
	if o.emuQuota != nil {
		eq = *o.emuQuota
	}
	if o.clientTimeout == 0 {
		o.clientTimeout = 2 * time.Second
	}
	e := &env{t: t, ctx: ctx, clock: &fakeClock{t: t0, jump: o.jump}, policy: o.policy}

	store, err := sqlstore.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e.store = store

	e.redis = testenv.Redis(t)
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr})
	t.Cleanup(func() { _ = e.rdb.Close() })

	e.emu, err = emulator.New(emulator.Config{
		Apps:      []emulator.AppConfig{{AppKey: testKey, Secret: testSecret, Quota: eq, PushDisabled: o.pushDisabled}},
		Freshness: -1,
	}, emulator.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.emu)
	t.Cleanup(srv.Close)
	e.srvURL = srv.URL

	e.client, err = pushapi.NewClient(pushapi.ClientConfig{
		AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret), Hosts: []string{srv.URL}, Timeout: o.clientTimeout, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.guard, err = quota.New(quota.Options{
		Client: e.rdb, Ledger: store, Apps: map[string]quota.Policy{testApp: o.policy}, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	var p worker.Pusher = e.client
	if o.wrap != nil {
		p = o.wrap(p)
	}
	e.handler, err = worker.NewHandler(worker.Deps{
		Store: store, Guard: e.guard, Pushers: map[string]worker.Pusher{testApp: p},
		Clock: e.clock, Logger: testLogger(t), Metrics: o.metrics, Jitter: func() float64 { return 0.5 },
	}, worker.Config{Backoff: o.backoff, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// handlerOn is a handler like e's (no metrics, the default backoff) on
// store and guard, which wrap e's to count or hook calls.
func (e *env) handlerOn(store worker.Store, guard worker.Guard) *worker.Handler {
	e.t.Helper()
	h, err := worker.NewHandler(worker.Deps{
		Store: store, Guard: guard, Pushers: map[string]worker.Pusher{testApp: e.client},
		Clock: e.clock, Logger: testLogger(e.t), Jitter: func() float64 { return 0.5 },
	}, worker.Config{Lease: time.Minute})
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// hourUsed asserts how many slots e's guard counts in the current hour.
func (e *env) hourUsed(want int, why string) {
	e.t.Helper()
	if st, err := e.guard.Status(e.ctx, testApp); err != nil || st.Hour.Used != want {
		e.t.Errorf("quota hour used %d (%v), want %d: %s", st.Hour.Used, err, want, why)
	}
}

// testLogger writes to the test log (shown on failure or with -v).
func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// body is a valid /push.json body; its alert carries the campaign id.
func body() pushapi.Request {
	return pushapi.Request{
		Platform:     []string{pushapi.PlatformIOS, pushapi.PlatformAndroid},
		FromUserID:   "system",
		Message:      &pushapi.Message{ObjectName: "AppNote", Content: "hi"},
		Audience:     pushapi.Audience{Tag: []string{"vip"}},
		Notification: &pushapi.Notification{Title: "Sale", Alert: "campaign {{.Campaign.ID}}"},
	}
}

// fire creates n campaigns with the given body and fires each into one
// run scheduled at at; it returns the run ids.
func fire(t *testing.T, ctx context.Context, store campaign.Store, n int, push pushapi.Request, at, now time.Time, deliverWithin time.Duration) []int64 {
	t.Helper()
	for i := range n {
		next := at
		_, err := store.Create(ctx, campaign.Campaign{
			App: testApp, Name: fmt.Sprintf("c%d", i), Push: push,
			Schedule:  campaign.Schedule{At: &next, Missed: campaign.MissedOnce, DeliverWithin: deliverWithin},
			NextRunAt: &next,
		}, now)
		if err != nil {
			t.Fatal(err)
		}
	}
	plan := func(c campaign.Campaign, _ time.Time) (campaign.FirePlan, error) {
		return campaign.FirePlan{Fire: true, ScheduledFor: *c.NextRunAt}, nil
	}
	var ids []int64
	for len(ids) < n {
		runs, err := store.ClaimDue(ctx, at.Add(time.Hour*24*365), at.Add(time.Hour*24*365), 500, plan)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 0 {
			t.Fatalf("fired %d runs, want %d", len(ids), n)
		}
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
	}
	return ids
}
