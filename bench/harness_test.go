package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/scheduler"
	"github.com/tagcast/tagcast/worker"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(helperMain(role))
	}
	testenv.Main(m)
}

const (
	appName   = "main"
	appKey    = "uwd1c0sxdlx2"
	appSecret = "bench-secret-not-real"
)

// raised is a quota that never binds.
var raised = quota.Policy{Hourly: 1 << 30, Daily: 1 << 30}

// stack is one throwaway deployment: a migrated store, a redis-server, the
// emulator on loopback HTTP, a quota guard and a push client.
type stack struct {
	dbURL  string
	store  *sqlstore.Store
	redis  *testenv.RedisServer
	rdb    *redis.Client
	emu    *emulator.Emulator
	emuURL string
	guard  *quota.Guard
	client *pushapi.Client
}

// newStack starts a stack on dbURL with policy on both the guard and the
// emulator; now is the clock of the guard, the emulator and the client
// (nil: the real clock).
func newStack(tb testing.TB, dbURL string, policy quota.Policy, now func() time.Time) *stack {
	tb.Helper()
	ctx := context.Background()
	s := &stack{dbURL: dbURL}
	var err error
	if s.store, err = sqlstore.Open(ctx, dbURL); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.store.Close() })
	if err := s.store.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	s.redis = testenv.Redis(tb)
	s.rdb = redis.NewClient(&redis.Options{Addr: s.redis.Addr, PoolSize: 64})
	tb.Cleanup(func() { _ = s.rdb.Close() })
	var opts []emulator.Option
	if now != nil {
		opts = append(opts, emulator.WithClock(now))
	}
	s.emu, err = emulator.New(emulator.Config{
		Apps:      []emulator.AppConfig{{AppKey: appKey, Secret: appSecret, Quota: emulator.Quota{Hourly: policy.Hourly, Daily: policy.Daily}}},
		Freshness: -1, MaxPushes: 200000,
	}, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(s.emu)
	tb.Cleanup(srv.Close)
	s.emuURL = srv.URL
	if now == nil {
		now = time.Now
	}
	if s.client, err = pushapi.NewClient(pushapi.ClientConfig{AppKey: appKey, AppSecret: pushapi.NewSecret(appSecret), Hosts: []string{srv.URL}, Now: now}); err != nil {
		tb.Fatal(err)
	}
	if s.guard, err = quota.New(quota.Options{Client: s.rdb, Ledger: s.store, Apps: map[string]quota.Policy{appName: policy}, Now: now, Logger: zerolog.Nop()}); err != nil {
		tb.Fatal(err)
	}
	return s
}

// startWorker starts an in-process worker server (real clock) and stops it
// at cleanup.
func (s *stack) startWorker(tb testing.TB, concurrency int) *worker.Server {
	tb.Helper()
	log := zerolog.New(zerolog.NewTestWriter(tb)).Level(zerolog.ErrorLevel)
	h, err := worker.NewHandler(worker.Deps{Store: s.store, Guard: s.guard, Pushers: map[string]worker.Pusher{appName: s.client}, Logger: log}, worker.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := worker.NewServer(s.rdb, h, worker.ServerConfig{Concurrency: concurrency, ShutdownTimeout: 5 * time.Second}, zerolog.Nop())
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	tb.Cleanup(func() { once.Do(func() { _ = srv.Shutdown() }) })
	return srv
}

// startScheduler runs a scheduler (real clock) until the returned stop.
func (s *stack) startScheduler(tb testing.TB) (stop func()) {
	tb.Helper()
	log := zerolog.New(zerolog.NewTestWriter(tb)).Level(zerolog.WarnLevel)
	sch, err := scheduler.New(scheduler.Config{Store: s.store, Queue: asynq.NewClientFromRedisClient(s.rdb), Logger: log, BatchSize: 500})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = sch.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	tb.Cleanup(stop)
	return stop
}

// pushBody is the /push.json body of every benchmark campaign: a tag
// audience, a template rendered at fire time.
func pushBody() pushapi.Request {
	return pushapi.Request{
		Platform:     []string{pushapi.PlatformIOS, pushapi.PlatformAndroid},
		FromUserID:   "system",
		Message:      &pushapi.Message{ObjectName: "AppNote", Content: "hi"},
		Audience:     pushapi.Audience{Tag: []string{"news"}},
		Notification: &pushapi.Notification{Title: "Bench", Alert: `campaign {{.Campaign.ID}} at {{.FireTime.Format "15:04:05.000"}}`},
	}
}

// createAt stores n one-off campaigns; campaign i fires at at(i). It
// returns each campaign's id, campaign i's at index i.
func (s *stack) createAt(tb testing.TB, n int, at func(i int) time.Time) []int64 {
	tb.Helper()
	ctx := context.Background()
	now := time.Now()
	ids := make([]int64, n)
	for i := range n {
		t := at(i)
		c := campaign.Campaign{App: appName, Name: fmt.Sprintf("bench-%d", i), Push: pushBody(),
			Schedule:  campaign.Schedule{At: &t, Missed: campaign.MissedOnce},
			NextRunAt: &t, Status: campaign.CampaignActive}
		created, err := s.store.Create(ctx, c, now)
		if err != nil {
			tb.Fatalf("create campaign %d: %v", i, err)
		}
		ids[i] = created.ID
	}
	return ids
}

// seedFuture bulk-inserts n active campaigns due years from now (the
// scheduler must never read them), directly in SQL: PostgreSQL only.
func (s *stack) seedFuture(tb testing.TB, n int) {
	tb.Helper()
	far := time.Now().AddDate(5, 0, 0)
	push, _ := json.Marshal(pushBody())
	sched, _ := json.Marshal(campaign.Schedule{At: &far, Missed: campaign.MissedOnce})
	_, err := s.store.DB().ExecContext(context.Background(), `INSERT INTO campaigns
		(app, name, push, schedule, vars, status, next_run_at, created_at, updated_at)
		SELECT $1, 'seed-' || g, $2::json, $3::jsonb, '{}', 'active', $4::timestamptz + g * interval '1 second', now(), now()
		FROM generate_series(1, $5::int) AS g`, appName, string(push), string(sched), far, n)
	if err != nil {
		tb.Fatalf("seed %d campaigns: %v", n, err)
	}
	if _, err := s.store.DB().ExecContext(context.Background(), "ANALYZE"); err != nil {
		tb.Fatal(err)
	}
}

// count runs one counting query.
func (s *stack) count(tb testing.TB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := s.store.DB().QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitFor polls cond every 10 ms until it holds or limit passes.
func waitFor(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runIDs returns the id of every run in the store.
func (s *stack) runIDs(tb testing.TB) []int64 {
	tb.Helper()
	rows, err := s.store.DB().QueryContext(context.Background(), `SELECT id FROM runs ORDER BY id`)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// lags summarises durations: positive late, negative early.
type lags []time.Duration

func (l lags) sorted() lags {
	c := slices.Clone(l)
	slices.Sort(c)
	return c
}

func (l lags) quantile(p float64) time.Duration {
	s := l.sorted()
	if len(s) == 0 {
		return 0
	}
	return s[int(p*float64(len(s)-1)+0.5)]
}

func (l lags) early() int {
	n := 0
	for _, d := range l {
		if d < 0 {
			n++
		}
	}
	return n
}

// report adds p50, p99, max (milliseconds) and the early count of l as
// metrics named after path.
func (l lags) report(b *testing.B, path string) {
	b.ReportMetric(ms(l.quantile(0.5)), path+"_p50_ms")
	b.ReportMetric(ms(l.quantile(0.99)), path+"_p99_ms")
	b.ReportMetric(ms(l.quantile(1)), path+"_max_ms")
	b.ReportMetric(float64(l.early()), path+"_early")
}

func (l lags) String() string {
	s := l.sorted()
	if len(s) == 0 {
		return "n=0"
	}
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s min=%s early=%d", len(s), l.quantile(0.5), l.quantile(0.99), s[len(s)-1], s[0], l.early())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// atomicMax keeps the latest instant stored.
type atomicMax struct{ ns atomic.Int64 }

func (m *atomicMax) store(t time.Time) {
	v := t.UnixNano()
	for {
		old := m.ns.Load()
		if v <= old || m.ns.CompareAndSwap(old, v) {
			return
		}
	}
}

func (m *atomicMax) load() time.Time { return time.Unix(0, m.ns.Load()) }
