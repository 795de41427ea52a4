package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/simclock"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/scheduler"
	"github.com/tagcast/tagcast/worker"
)

// The test binary re-executes itself as a tagcast process when helperEnv
// names a role (see TestMain).
const (
	helperEnv       = "TAGCAST_BENCH_HELPER"
	helperPGEnv     = "TAGCAST_BENCH_PG"
	helperRedisEnv  = "TAGCAST_BENCH_REDIS"
	helperEmuEnv    = "TAGCAST_BENCH_EMU"
	helperClockEnv  = "TAGCAST_BENCH_CLOCK"
	helperConcEnv   = "TAGCAST_BENCH_CONCURRENCY"
	helperHourlyEnv = "TAGCAST_BENCH_HOURLY"
	helperDailyEnv  = "TAGCAST_BENCH_DAILY"
)

// Roles of a helper process.
const (
	roleQuotaWorker = "quota-worker" // a worker on the shared clock file
	roleMemWorker   = "mem-worker"   // a worker on the real clock; prints memory at SIGTERM
	roleMemSched    = "mem-scheduler"
)

// memReport is what a mem-* helper prints on stdout at SIGTERM, measured
// while it still runs.
type memReport struct {
	Role      string `json:"role"`
	HeapInuse uint64 `json:"heap_inuse"` // after runtime.GC
	HeapAlloc uint64 `json:"heap_alloc"`
	Sys       uint64 `json:"sys"`
	RSS       uint64 `json:"rss"` // VmRSS, bytes
	HWM       uint64 `json:"hwm"` // VmHWM (peak RSS), bytes
}

// quotaWorkerConfig: real waits are short, the lease long in simulated
// time (the clock jumps by hours).
var quotaWorkerConfig = worker.Config{Lease: 10 * time.Minute, InlineWait: 2 * time.Second, MaxSnooze: time.Second}

// helperMain runs one process of the given role until SIGTERM and returns
// its exit code.
func helperMain(role string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	log := zerolog.New(os.Stderr).With().Timestamp().Int("pid", os.Getpid()).Str("role", role).Logger().Level(zerolog.WarnLevel)
	fail := func(err error) int { log.Error().Err(err).Msg("helper"); return 3 }

	var (
		now   = time.Now
		clock worker.Clock
	)
	if path := os.Getenv(helperClockEnv); path != "" {
		fc, err := simclock.Open(path)
		if err != nil {
			return fail(err)
		}
		defer fc.Close()
		now, clock = fc.Now, fc
	}
	store, err := sqlstore.Open(ctx, os.Getenv(helperPGEnv))
	if err != nil {
		return fail(err)
	}
	defer func() { _ = store.Close() }()
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(helperRedisEnv)})
	defer func() { _ = rdb.Close() }()

	if role == roleMemSched {
		return runMemScheduler(ctx, store, rdb, log)
	}

	hourly, _ := strconv.Atoi(os.Getenv(helperHourlyEnv))
	daily, _ := strconv.Atoi(os.Getenv(helperDailyEnv))
	guard, err := quota.New(quota.Options{Client: rdb, Ledger: store, Apps: map[string]quota.Policy{appName: {Hourly: hourly, Daily: daily}},
		Now: now, Logger: log})
	if err != nil {
		return fail(err)
	}
	client, err := pushapi.NewClient(pushapi.ClientConfig{AppKey: appKey, AppSecret: pushapi.NewSecret(appSecret), Hosts: []string{os.Getenv(helperEmuEnv)},
		Timeout: 10 * time.Second, Now: now})
	if err != nil {
		return fail(err)
	}
	cfg, scfg := worker.Config{}, worker.ServerConfig{ShutdownTimeout: 5 * time.Second}
	if role == roleQuotaWorker {
		cfg = quotaWorkerConfig
		scfg.DelayedTaskCheckInterval, scfg.TaskCheckInterval = 200*time.Millisecond, 50*time.Millisecond
	}
	h, err := worker.NewHandler(worker.Deps{Store: store, Guard: guard, Pushers: map[string]worker.Pusher{appName: client},
		Clock: clock, Logger: log}, cfg)
	if err != nil {
		return fail(err)
	}
	scfg.Concurrency, _ = strconv.Atoi(os.Getenv(helperConcEnv))
	srv, err := worker.NewServer(rdb, h, scfg, log)
	if err != nil {
		return fail(err)
	}
	if err := srv.Start(); err != nil {
		return fail(err)
	}
	<-ctx.Done()
	if role == roleMemWorker {
		printMem(role)
	}
	if err := srv.Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// runMemScheduler runs a scheduler and a reconciler, as `tagcast
// scheduler` does, until ctx ends, then prints its memory.
func runMemScheduler(ctx context.Context, store *sqlstore.Store, rdb *redis.Client, log zerolog.Logger) int {
	client := asynq.NewClientFromRedisClient(rdb)
	sch, err := scheduler.New(scheduler.Config{Store: store, Queue: client, Logger: log})
	if err != nil {
		log.Error().Err(err).Msg("helper")
		return 3
	}
	rec, err := scheduler.NewReconciler(scheduler.ReconcilerConfig{Store: store, Queue: client,
		Inspector: asynq.NewInspectorFromRedisClient(rdb), Logger: log, Interval: time.Second})
	if err != nil {
		log.Error().Err(err).Msg("helper")
		return 3
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = sch.Run(runCtx) }()
	go func() { defer wg.Done(); _ = rec.Run(runCtx) }()
	<-ctx.Done()
	printMem(roleMemSched)
	cancel()
	wg.Wait()
	return 0
}

// printMem collects garbage and prints this process's memory as JSON.
func printMem(role string) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r := memReport{Role: role, HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc, Sys: ms.Sys}
	r.RSS, r.HWM = procStatus("VmRSS:"), procStatus("VmHWM:")
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

// procStatus reads a "kB" field of /proc/self/status, in bytes.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// helperEnvOf is what the helper processes of a benchmark share.
type helperEnvOf struct {
	pgURL, redisAddr, emuURL, clockPath string
	hourly, daily, concurrency          int
}

// helper is a running helper process.
type helper struct{ *testenv.Self }

// startHelper re-executes the test binary as role; the process is killed at
// cleanup if still running.
func startHelper(tb testing.TB, role string, e helperEnvOf) helper {
	tb.Helper()
	return helper{testenv.StartSelf(tb, role+" helper",
		helperEnv+"="+role, helperPGEnv+"="+e.pgURL, helperRedisEnv+"="+e.redisAddr, helperEmuEnv+"="+e.emuURL,
		helperClockEnv+"="+e.clockPath, helperConcEnv+"="+strconv.Itoa(e.concurrency),
		helperHourlyEnv+"="+strconv.Itoa(e.hourly), helperDailyEnv+"="+strconv.Itoa(e.daily))}
}

// stop sends SIGTERM and waits for the process to exit cleanly.
func (h helper) stop(tb testing.TB) {
	tb.Helper()
	if err := h.Stop(30 * time.Second); err != nil {
		tb.Fatal(err)
	}
}

// memReport parses the JSON line a mem-* helper printed.
func (h helper) memReport(tb testing.TB) memReport {
	tb.Helper()
	sc := bufio.NewScanner(strings.NewReader(h.Stdout.String()))
	for sc.Scan() {
		var r memReport
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Role != "" {
			return r
		}
	}
	tb.Fatal(errors.New("helper printed no memory report; stdout: " + h.Stdout.Tail(10)))
	return memReport{}
}
