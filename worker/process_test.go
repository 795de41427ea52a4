package worker_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/quotaprobe"
	"github.com/tagcast/tagcast/internal/simclock"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// The test binary re-executes itself as a worker process when helperEnv
// is set (see TestMain).
const (
	helperEnv       = "TAGCAST_WORKER_HELPER"
	helperPGEnv     = "TAGCAST_WORKER_HELPER_PG"
	helperRedisEnv  = "TAGCAST_WORKER_HELPER_REDIS"
	helperEmuEnv    = "TAGCAST_WORKER_HELPER_EMU"
	helperClockEnv  = "TAGCAST_WORKER_HELPER_CLOCK"
	helperConcEnv   = "TAGCAST_WORKER_HELPER_CONCURRENCY"
	helperHourlyEnv = "TAGCAST_WORKER_HELPER_HOURLY"
	helperDailyEnv  = "TAGCAST_WORKER_HELPER_DAILY"
)

// Worker settings of the processes: real waits are short, the lease is
// long in simulated time (the clock jumps by hours).
var helperConfig = worker.Config{Lease: 10 * time.Minute, InlineWait: 2 * time.Second, MaxSnooze: time.Second}

// helperMain runs one worker process until SIGTERM and returns its exit code.
func helperMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	log := zerolog.New(os.Stderr).With().Timestamp().Int("pid", os.Getpid()).Logger().Level(zerolog.WarnLevel)
	fail := func(err error) int { log.Error().Err(err).Msg("helper"); return 3 }
	clock, err := simclock.Open(os.Getenv(helperClockEnv))
	if err != nil {
		return fail(err)
	}
	defer clock.Close()
	store, err := sqlstore.Open(ctx, os.Getenv(helperPGEnv))
	if err != nil {
		return fail(err)
	}
	defer func() { _ = store.Close() }()
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(helperRedisEnv)})
	defer func() { _ = rdb.Close() }()
	hourly, _ := strconv.Atoi(os.Getenv(helperHourlyEnv))
	daily, _ := strconv.Atoi(os.Getenv(helperDailyEnv))
	guard, err := quota.New(quota.Options{Client: rdb, Ledger: store, Apps: map[string]quota.Policy{testApp: {Hourly: hourly, Daily: daily}},
		Now: clock.Now, Logger: log})
	if err != nil {
		return fail(err)
	}
	client, err := pushapi.NewClient(pushapi.ClientConfig{AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret), Hosts: []string{os.Getenv(helperEmuEnv)},
		Timeout: 10 * time.Second, Now: clock.Now})
	if err != nil {
		return fail(err)
	}
	h, err := worker.NewHandler(worker.Deps{Store: store, Guard: guard, Pushers: map[string]worker.Pusher{testApp: client},
		Clock: clock, Logger: log}, helperConfig)
	if err != nil {
		return fail(err)
	}
	conc, _ := strconv.Atoi(os.Getenv(helperConcEnv))
	srv, err := worker.NewServer(rdb, h, worker.ServerConfig{Concurrency: conc, ShutdownTimeout: 5 * time.Second,
		DelayedTaskCheckInterval: 200 * time.Millisecond, TaskCheckInterval: 50 * time.Millisecond}, log)
	if err != nil {
		return fail(err)
	}
	if err := srv.Start(); err != nil {
		return fail(err)
	}
	<-ctx.Done()
	if err := srv.Shutdown(); err != nil {
		return fail(err)
	}
	return 0
}

// procEnv is what the worker processes of a test share.
type procEnv struct {
	pgURL, redisAddr, emuURL, clockPath string
	hourly, daily                       int
}

// helper is a running worker process.
type helper struct{ *testenv.Self }

func startHelper(t *testing.T, pe procEnv, concurrency int) helper {
	t.Helper()
	return helper{testenv.StartSelf(t, "worker process",
		helperEnv+"=1", helperPGEnv+"="+pe.pgURL, helperRedisEnv+"="+pe.redisAddr, helperEmuEnv+"="+pe.emuURL,
		helperClockEnv+"="+pe.clockPath, helperConcEnv+"="+strconv.Itoa(concurrency),
		helperHourlyEnv+"="+strconv.Itoa(pe.hourly), helperDailyEnv+"="+strconv.Itoa(pe.daily))}
}

// stop sends SIGTERM and returns how long the graceful shutdown took.
func (h helper) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	if err := h.Stop(20 * time.Second); err != nil {
		t.Error(err)
	}
	return time.Since(start)
}

// procSetup starts PostgreSQL, Redis, the shared clock file and the
// emulator (on the shared clock) for tests with worker processes.
func procSetup(t *testing.T, q emulator.Quota) (procEnv, *simclock.Clock, *sqlstore.Store, *testenv.RedisServer, *redis.Client, *emulator.Emulator) {
	t.Helper()
	ctx := t.Context()
	pe := procEnv{pgURL: testenv.Postgres(t), clockPath: filepath.Join(t.TempDir(), "clock"), hourly: q.Hourly, daily: q.Daily}
	clock, err := simclock.Create(pe.clockPath, t0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(clock.Close)
	store, err := sqlstore.Open(ctx, pe.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rs := testenv.Redis(t)
	pe.redisAddr = rs.Addr
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	emu, err := emulator.New(emulator.Config{Apps: []emulator.AppConfig{{AppKey: testKey, Secret: testSecret, Quota: q}}, Freshness: -1, MaxPushes: 100000},
		emulator.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	pe.emuURL = srv.URL
	return pe, clock, store, rs, rdb, emu
}

func enqueueAll(t *testing.T, ctx context.Context, rdb *redis.Client, ids []int64) {
	t.Helper()
	c := asynq.NewClientFromRedisClient(rdb)
	for _, id := range ids {
		if _, err := queue.Enqueue(ctx, c, queue.RunSendPayload{RunID: id}, time.Time{}, queue.Options{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestQuotaExactnessAcrossProcesses: 4 worker processes with concurrency
// 50 each share one App Key; 200 runs are queued; 48 simulated hours pass.
// The clock is a file every process reads; the test moves it to the next
// window opening only once every reserved slot has been claimed, and its
// push has reached the emulator and been recorded, and flushes Redis once on the way (the guard rebuilds
// from the store's ledger; the runs are re-enqueued as the scheduler's
// reconciler would).
func TestQuotaExactnessAcrossProcesses(t *testing.T) {
	t.Parallel()
	const (
		hourly, daily = 5, 30
		runs          = 200
		processes     = 4
		concurrency   = 50
	)
	ctx := t.Context()
	pe, clock, store, rs, rdb, emu := procSetup(t, emulator.Quota{Hourly: hourly, Daily: daily})
	guard, err := quota.New(quota.Options{Client: rdb, Ledger: store, Apps: map[string]quota.Policy{testApp: {Hourly: hourly, Daily: daily}}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ids := fire(t, ctx, store, runs, body(), t0, t0, 0)
	enqueueAll(t, ctx, rdb, ids)
	var helpers []helper
	for range processes {
		helpers = append(helpers, startHelper(t, pe, concurrency))
	}

	end := t0.Add(48 * time.Hour)
	realDeadline := time.Now().Add(100 * time.Second)
	flushed := false
	var flushAt time.Time
	jumps := 0
	for clock.Now().Before(end) {
		if time.Now().After(realDeadline) {
			st, _ := guard.Status(ctx, testApp)
			t.Fatalf("stuck at simulated %v after %d jumps: quota %+v, emulator %+v", clock.Now(), jumps, st, emu.Counters(testKey))
		}
		time.Sleep(5 * time.Millisecond) // the controller polls real processes
		now := clock.Now()
		st, err := guard.Status(ctx, testApp)
		if err != nil {
			t.Fatal(err)
		}
		if !st.NextOpening.After(now) {
			continue // room: the workers take it
		}
		// Every slot reserved must be claimed before the sends in flight
		// are counted: a claim between the two reads would be missed.
		if n, err := quotaprobe.Unclaimed(ctx, st, store, quota.DefaultMargin); err != nil {
			t.Fatal(err)
		} else if n != 0 {
			continue // a worker reserved a slot and is about to claim its send
		}
		var inFlight, recorded int
		if err := store.DB().QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE status = 'in_flight'),
			count(*) FILTER (WHERE status IN ('sent', 'unknown')) FROM sends`).Scan(&inFlight, &recorded); err != nil {
			t.Fatal(err)
		}
		if inFlight > 0 || recorded != emu.Counters(testKey).Accepted {
			continue
		}
		if !flushed && !now.Before(t0.Add(20*time.Hour)) {
			rs.Flush(t) // the queue and the quota windows are gone
			open, err := store.OpenRuns(ctx, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			var openIDs []int64
			for _, r := range open {
				openIDs = append(openIDs, r.ID)
			}
			enqueueAll(t, ctx, rdb, openIDs)
			flushed, flushAt = true, now
			continue
		}
		if st.NextOpening.After(end) {
			break // 48 simulated hours are over
		}
		if same, err := quotaprobe.Unchanged(ctx, guard, testApp, st); err != nil {
			t.Fatal(err)
		} else if !same {
			continue // a slot was reserved during the check
		}
		// Set moves this process's clock (the emulator's) before the
		// workers can read the file: the service is never behind them.
		if err := clock.Set(st.NextOpening); err != nil {
			t.Fatal(err)
		}
		jumps++
	}
	var shutdown []time.Duration
	for _, h := range helpers {
		shutdown = append(shutdown, h.stop(t))
	}

	c := emu.Counters(testKey)
	pushes := emu.PushesFor(testKey)
	t.Logf("%d jumps to %v; %d pushes; emulator %+v; graceful shutdowns %v", jumps, clock.Now(), len(pushes), c, shutdown)
	if c.RateLimited != 0 {
		t.Errorf("the emulator answered 429 %d times, want 0", c.RateLimited)

	}
	// The flush came mid-day: the windows rebuilt from the ledger had to
	// count that day's earlier pushes, or the day would exceed its limit.
	loc, _ := time.LoadLocation(quota.DefaultTimezone)
	var beforeFlush int
	for _, p := range pushes {
		if p.ReceivedAt.Before(flushAt) && p.ReceivedAt.In(loc).YearDay() == flushAt.In(loc).YearDay() {
			beforeFlush++
		}
	}
	if !flushed || beforeFlush == 0 || beforeFlush >= daily {
		t.Errorf("flushed %v at %v with %d pushes earlier that day: want a flush in the middle of a day", flushed, flushAt, beforeFlush)
	}
	seen := map[string]int{}
	for _, p := range pushes {
		seen[p.Request.Notification.Alert]++
	}
	for alert, n := range seen {
		if n > 1 {
			t.Errorf("%q pushed %d times", alert, n)
		}
	}
	var sent, unknown int
	if err := store.DB().QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'unknown') FROM sends`).Scan(&sent, &unknown); err != nil {
		t.Fatal(err)
	}
	if sent != len(pushes) || unknown != 0 {
		t.Errorf("store: %d sent, %d unknown; emulator: %d pushes", sent, unknown, len(pushes))
	}
	// Every calendar day is used to its limit (backlog remains: 200 runs).
	perDay := map[string]int{}
	for _, p := range pushes {
		perDay[p.ReceivedAt.In(loc).Format(time.DateOnly)]++
	}
	wantDays := map[string]int{"2026-03-02": daily, "2026-03-03": daily, "2026-03-04": daily}
	if fmt.Sprint(perDay) != fmt.Sprint(wantDays) {
		t.Errorf("pushes per day %v, want %v", perDay, wantDays)
	}
	if len(pushes) >= runs {
		t.Fatalf("%d pushes: no backlog left, the test proves nothing about windows", len(pushes))
	}
	// Every hour window is used to its limit: within a day, the push
	// `hourly` places later is at least an hour later (the limit holds) and
	// at most an hour plus the guard's margin later (no slot left unused).
	times := make([]time.Time, len(pushes))
	for i, p := range pushes {
		times[i] = p.ReceivedAt
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 0; i+hourly < len(times); i++ {
		a, b := times[i], times[i+hourly]
		if a.In(loc).Day() != b.In(loc).Day() {
			continue
		}
		if gap := b.Sub(a); gap < time.Hour || gap > time.Hour+quota.DefaultMargin+time.Second {
			t.Errorf("push %d at %v and push %d at %v: %s apart, want within [1h, 1h%s]", i, a, i+hourly, b, gap, quota.DefaultMargin)
		}
	}
}

// TestKillMidSend: a worker process is killed (SIGKILL) while its push is
// held in flight by the emulator (processed, answer stalled). The run
// completes on the next delivery: the killed send is unknown, the other is
// sent, and the emulator saw no duplicate.
func TestKillMidSend(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pe, clock, store, _, rdb, emu := procSetup(t, emulator.Quota{Hourly: 10, Daily: 10})
	if err := emu.SetFaults(testKey, &emulator.Faults{StallSent: 1, StallFor: emulator.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	ids := fire(t, ctx, store, 1, twoSendBody(), t0, t0, 0)
	enqueueAll(t, ctx, rdb, ids)
	h := startHelper(t, pe, 1)
	deadline := time.Now().Add(30 * time.Second)
	for len(emu.PushesFor(testKey)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the worker process sent nothing within 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.Kill()
	if err := emu.SetFaults(testKey, nil); err != nil {
		t.Fatal(err)
	}
	_, sends, err := store.GetRun(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if sends[0].Status != "in_flight" || sends[0].SentAt == nil {
		t.Fatalf("killed send: %s (attempt begun %v), want in_flight with its attempt begun", sends[0].Status, sends[0].SentAt != nil)
	}

	// asynq hands the orphaned task to another worker once its lease is
	// recovered (about a minute of real time); the test delivers it to a
	// handler at once, after the store's lease lapsed on the shared clock.
	if err := clock.Set(t0.Add(helperConfig.Lease + time.Second)); err != nil {
		t.Fatal(err)
	}
	guard, err := quota.New(quota.Options{Client: rdb, Ledger: store, Apps: map[string]quota.Policy{testApp: {Hourly: 10, Daily: 10}}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	client, err := pushapi.NewClient(pushapi.ClientConfig{AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret), Hosts: []string{pe.emuURL}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	handler, err := worker.NewHandler(worker.Deps{Store: store, Guard: guard, Pushers: map[string]worker.Pusher{testApp: client},
		Clock: clock, Logger: testLogger(t)}, helperConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := handler.ProcessRun(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	run, sends, err := store.GetRun(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != "partially_failed" || sends[0].Status != "unknown" || sends[1].Status != "sent" {
		t.Errorf("run %s, sends %s and %s; want partially_failed, unknown, sent", run.Status, sends[0].Status, sends[1].Status)
	}
	pushes := emu.PushesFor(testKey)
	firstIDs := map[string]int{}
	for _, p := range pushes {
		firstIDs[p.Request.Audience.UserID[0]]++
	}
	if len(pushes) != 2 || firstIDs["u0"] != 1 || firstIDs["u1000"] != 1 {
		t.Errorf("emulator pushes by first user id %v, want user0 and user1000 once each", firstIDs)
	}
}
