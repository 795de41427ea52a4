package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/internal/testenv"
)

// Throughput settings: the worker's default concurrency, for tagcast and
// for bare asynq alike.
const (
	throughputConcurrency = 20
	throughputRuns        = 1500
	emulatorProbe         = 1500 * time.Millisecond
)

// BenchmarkSendThroughput measures, in one run on one Redis:
//
//   - asynq: bare asynq processing no-op tasks (enqueued first, then
//     processed by a server with the worker's concurrency and poll
//     intervals): tasks per second from the first handler's start to the
//     last one's (asynqNoopRate);
//   - tagcast: runs per second end to end, from the first send's claim to
//     the last run finished in the store: the scheduler claims the due campaigns
//     (one Run and one rendered Send each) and enqueues them, the worker
//     claims each send, reserves quota (raised out of the way on the guard
//     and the emulator), pushes to the emulator over loopback HTTP and
//     records the messageUID and the run's end;
//   - emulator: the emulator's capacity through the same client, with as
//     many concurrent callers as the worker has (and one caller, serial).
//
// ratio is tagcast/asynq (target ≥ 0.5); ratio_from_start times tagcast
// from the scheduler's start and asynq from its server's, idle polls
// included; emu_over_worker is the emulator's
// capacity over tagcast's send rate (issue 3 asks ≥ 3). Run with
// -benchtime=1x.
func BenchmarkSendThroughput(b *testing.B) {
	for _, db := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"postgres", func(tb testing.TB) string { return testenv.Postgres(tb) }},
		{"sqlite", func(tb testing.TB) string { return "sqlite://" + filepath.Join(tb.TempDir(), "tagcast.db") }},
	} {
		b.Run(db.name, func(b *testing.B) {
			for range b.N {
				throughputOnce(b, db.url(b))
			}
		})
	}
}

func throughputOnce(b *testing.B, dbURL string) {
	s := newStack(b, dbURL, raised, nil)
	const n, conc = throughputRuns, throughputConcurrency

	serial := s.emulatorRate(b, 1, emulatorProbe)
	parallel := s.emulatorRate(b, conc, emulatorProbe)
	acpu0 := cpuByCommand()
	asynqSpan := s.asynqNoopRate(b, n, conc)
	acpu := cpuByCommand().since(acpu0)

	// tagcast: every campaign is due now; the worker idles until the
	// scheduler starts.
	due := time.Now()
	s.createAt(b, n, func(int) time.Time { return due })
	srv := s.startWorker(b, conc)
	stopProfile := profilePhase(b, "tagcast")
	cpu0 := cpuByCommand()
	start := time.Now()
	stop := s.startScheduler(b)
	// The end is the last run's finished_at, not when this loop sees it, so
	// the poll can be slow: its scans of the runs table would otherwise be
	// charged to tagcast's PostgreSQL CPU (every 10 ms they cost 3-10 % of it).
	deadline := time.Now().Add(90 * time.Second)
	for s.count(b, `SELECT count(*) FROM runs WHERE finished_at IS NOT NULL`) != n {
		if time.Now().After(deadline) {
			b.Fatalf("runs not finished within 90 s: runs by status %s; sends by status %s; emulator %+v",
				s.byStatus(b, "runs"), s.byStatus(b, "sends"), s.emu.Counters(appKey))
		}
		time.Sleep(100 * time.Millisecond)
	}
	cpu := cpuByCommand().since(cpu0)
	stopProfile()
	stop()
	if err := srv.Shutdown(); err != nil {
		b.Fatal(err)
	}
	// The last run to finish, read through the store (SQLite keeps instants
	// as integers, so a raw max(finished_at) does not scan into a time).
	var lastID int64
	if err := s.store.DB().QueryRowContext(context.Background(), `SELECT id FROM runs ORDER BY finished_at DESC LIMIT 1`).Scan(&lastID); err != nil {
		b.Fatal(err)
	}
	lastRun, _, err := s.store.GetRun(context.Background(), lastID)
	if err != nil || lastRun.FinishedAt == nil {
		b.Fatalf("last run %d: %+v, %v", lastID, lastRun, err)
	}
	last := *lastRun.FinishedAt
	var firstRunID int64
	if err := s.store.DB().QueryRowContext(context.Background(), `SELECT run_id FROM sends ORDER BY sent_at, id LIMIT 1`).Scan(&firstRunID); err != nil {
		b.Fatal(err)
	}
	_, firstSends, err := s.store.GetRun(context.Background(), firstRunID)
	if err != nil || firstSends[0].SentAt == nil {
		b.Fatalf("first run %d: %+v, %v", firstRunID, firstSends, err)
	}
	tagcastSpan := span{start: start, first: *firstSends[0].SentAt, last: last}
	tagcastRate, asynqRate := tagcastSpan.rate(n), asynqSpan.rate(n)

	// Correctness: each run sent once, every messageUID recorded.
	if sent := s.count(b, `SELECT count(*) FROM sends WHERE status = 'sent' AND message_uid <> ''`); sent != n {
		b.Fatalf("%d sends sent with a messageUID, want %d", sent, n)
	}
	c := s.emu.Counters(appKey)
	if c.RateLimited != 0 {
		b.Fatalf("the emulator answered 429 %d times", c.RateLimited)
	}
	if pushes := len(s.emu.PushesFor(appKey)); pushes != n+int(serial.calls+parallel.calls) {
		b.Fatalf("emulator holds %d pushes, want %d", pushes, n+int(serial.calls+parallel.calls))
	}

	s.logStages(b)
	for _, c := range []string{"bench.test", "postgres", "redis-server"} {
		b.ReportMetric(float64(cpu[c].Microseconds())/float64(n), "cpu_us/run_"+c)
	}
	b.ReportMetric(float64((acpu["bench.test"]+acpu["redis-server"]).Microseconds())/float64(n), "cpu_us/task_asynq")
	b.Logf("CPU per run: this process %s, PostgreSQL %s, Redis %s (wall %s per run); bare asynq per no-op task: this process %s, Redis %s",
		cpu["bench.test"]/n, cpu["postgres"]/n, cpu["redis-server"]/n, last.Sub(start)/n, acpu["bench.test"]/n, acpu["redis-server"]/n)
	b.ReportMetric(tagcastRate, "tagcast_runs/s")
	b.ReportMetric(asynqRate, "asynq_noop/s")
	b.ReportMetric(tagcastRate/asynqRate, "ratio")
	b.ReportMetric(tagcastSpan.rateFromStart(n)/asynqSpan.rateFromStart(n), "ratio_from_start")
	b.ReportMetric(serial.rate, "emu_serial/s")
	b.ReportMetric(parallel.rate, "emu_parallel/s")
	b.ReportMetric(parallel.rate/tagcastRate, "emu_over_worker")
	b.Logf("tagcast %.0f runs/s, asynq no-op %.0f tasks/s (ratio %.2f); from the start, idle polls included: %.0f and %.0f (%.2f); emulator %.0f/s serial, %.0f/s with %d callers (%.1fx the worker)",
		tagcastRate, asynqRate, tagcastRate/asynqRate, tagcastSpan.rateFromStart(n), asynqSpan.rateFromStart(n),
		tagcastSpan.rateFromStart(n)/asynqSpan.rateFromStart(n), serial.rate, parallel.rate, conc, parallel.rate/tagcastRate)
}

// profilePhase writes a CPU profile of this process for one phase of the
// benchmark to $BENCH_CPUPROFILE_DIR/<phase>-<n>.pprof when that variable
// is set (go test's -cpuprofile covers the whole run, setup and baseline
// included). It returns the function that stops the profile.
func profilePhase(b *testing.B, phase string) func() {
	dir := os.Getenv("BENCH_CPUPROFILE_DIR")
	if dir == "" {
		return func() {}
	}
	f, err := os.CreateTemp(dir, phase+"-*.pprof")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
		b.Logf("CPU profile of the %s phase: %s", phase, f.Name())
	}
}

type rate struct {
	rate  float64
	calls int64
}

// emulatorRate pushes through the stack's client from callers goroutines
// for d and returns accepted pushes per second.
func (s *stack) emulatorRate(b *testing.B, callers int, d time.Duration) rate {
	b.Helper()
	ctx := context.Background()
	req := pushBody()
	var calls atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := req
			for time.Now().Before(deadline) {
				if _, err := s.client.Push(ctx, &r); err != nil {
					b.Error(err)
					return
				}
				calls.Add(1)
			}
		}()
	}
	wg.Wait()
	return rate{rate: float64(calls.Load()) / time.Since(start).Seconds(), calls: calls.Load()}
}

// span is one side's run of the throughput benchmark: its start (the
// first enqueue, or the scheduler's start), the first task's work and the
// last task's end.
//
// An idle asynq server polls an empty queue every 100 to 300 ms (half its
// check interval plus jitter), so the first task waits a random part of
// that whatever the code under test: for bare asynq that was up to half of
// a 1,500-task run, and its rate swung from 3,400 to 9,500 tasks/s. The
// rate is taken from the first task's work to the last one's end, on both
// sides alike; the rate from the start is kept for comparison.
type span struct{ start, first, last time.Time }

func (s span) rate(n int) float64          { return float64(n) / s.last.Sub(s.first).Seconds() }
func (s span) rateFromStart(n int) float64 { return float64(n) / s.last.Sub(s.start).Seconds() }

// asynqNoopRate: n no-op tasks are enqueued first; then a server with
// concurrency conc and the worker's poll intervals starts and processes
// them, timed from the first handler's start to the last one's. The queue
// is full from the start, as tagcast's worker's is (its scheduler enqueues
// faster than it drains: a run waits about a second in the queue). Fed by
// one goroutine while it ran, as until session 20, the server caught up
// with its producer, found the queue empty and slept 100 - 300 ms before
// polling again: in a window of 130 - 400 ms one such sleep moved the
// baseline 2 - 3x (2,137 - 14,648 tasks/s across sessions), and measured
// the producer, not asynq (found by a review).
func (s *stack) asynqNoopRate(b *testing.B, n, conc int) span {
	b.Helper()
	client := asynq.NewClientFromRedisClient(s.rdb)
	for range n {
		if _, err := client.Enqueue(asynq.NewTask("noop", nil), asynq.Queue("noop")); err != nil {
			b.Fatal(err)
		}
	}
	var done atomic.Int64
	var last atomicMax
	var first atomic.Int64 // the first handler's start, Unix ns
	all := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(s.rdb, asynq.Config{
		Concurrency: conc, Queues: map[string]int{"noop": 1}, LogLevel: asynq.FatalLevel,
		DelayedTaskCheckInterval: time.Second, TaskCheckInterval: 200 * time.Millisecond,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *asynq.Task) error {
		first.CompareAndSwap(0, time.Now().UnixNano())
		last.store(time.Now())
		if done.Add(1) == int64(n) {
			close(all)
		}
		return nil
	})
	start := time.Now()
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		b.Fatalf("asynq processed %d of %d no-op tasks in 2 minutes", done.Load(), n)
	}
	return span{start: start, first: time.Unix(0, first.Load()), last: last.load()}
}

// logStages logs where a run's time went, over the runs: waiting in the
// queue and reserving the quota slot (enqueued → send claimed, its attempt
// begun), the push and its record (claimed → outcome recorded), outcome to
// run finished.
func (s *stack) logStages(b *testing.B) {
	b.Helper()
	ctx := context.Background()
	ids := s.runIDs(b)
	var queued, push, finish lags
	for _, id := range ids {
		r, sends, err := s.store.GetRun(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		sd := sends[0]
		if r.EnqueuedAt == nil || sd.SentAt == nil || r.FinishedAt == nil {
			continue
		}
		queued = append(queued, sd.SentAt.Sub(*r.EnqueuedAt))
		push = append(push, sd.UpdatedAt.Sub(*sd.SentAt))
		finish = append(finish, r.FinishedAt.Sub(sd.UpdatedAt))
	}
	b.Logf("stages (p50/p99): enqueued→claimed %s/%s, claimed→recorded %s/%s, recorded→finished %s/%s",
		queued.quantile(0.5), queued.quantile(0.99), push.quantile(0.5), push.quantile(0.99), finish.quantile(0.5), finish.quantile(0.99))
}

// byStatus counts the rows of table by status.
func (s *stack) byStatus(b *testing.B, table string) string {
	b.Helper()
	rows, err := s.store.DB().QueryContext(context.Background(), `SELECT status, count(*) FROM `+table+` GROUP BY status ORDER BY status`)
	if err != nil {
		return err.Error()
	}
	defer func() { _ = rows.Close() }()
	out := ""
	for rows.Next() {
		var st string
		var c int
		if err := rows.Scan(&st, &c); err != nil {
			return err.Error()
		}
		out += fmt.Sprintf("%s=%d ", st, c)
	}
	return out
}

// cpuTimes is CPU time (user + system) by command name, from /proc.
type cpuTimes map[string]time.Duration

// cpuByCommand sums, by command name, the CPU time of this test binary
// (counted as bench.test whatever its file name) and of its descendants
// (the PostgreSQL postmaster and its backends, redis-server, which
// internal/testenv starts as children); any other process on the machine is
// not counted, whatever its name. Processes that exit between two readings
// are missed; the pools keep theirs open.
func cpuByCommand() cpuTimes {
	type proc struct {
		ppid int
		name string
		cpu  time.Duration
	}
	procs := map[int]proc{}
	children := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range dirs {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and ')', so
		// the fields are read after the last ')'.
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(b[end+1:]))
		if len(f) < 13 {
			continue
		}
		// Fields after the command: state is [0], ppid [1]; utime [11],
		// stime [12], in clock ticks (100 a second on Linux).
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid: ppid, name: string(b[open+1 : end]), cpu: time.Duration(ut+st) * 10 * time.Millisecond}
		children[ppid] = append(children[ppid], pid)
	}
	out := cpuTimes{}
	self := os.Getpid()
	seen := map[int]bool{}
	for todo := []int{self}; len(todo) > 0; {
		pid := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		pr, ok := procs[pid]
		if !ok || seen[pid] { // seen: /proc is not read atomically
			continue
		}
		seen[pid] = true
		todo = append(todo, children[pid]...)
		name := pr.name
		if pid == self {
			name = "bench.test" // whatever the binary is called
		}
		out[name] += pr.cpu
	}
	return out
}

func (c cpuTimes) since(before cpuTimes) cpuTimes {
	out := cpuTimes{}
	for k, v := range c {
		out[k] = v - before[k]
	}
	return out
}
