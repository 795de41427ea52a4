package bench

import (
	"strconv"
	"testing"
	"time"

	"github.com/tagcast/tagcast/internal/testenv"
)

// Memory settings: campaigns in the table, of which memoryDue fire during
// the measurement (the rest are due years later).
const (
	memoryDue         = 200
	memoryConcurrency = 20
	memoryIdle        = 3 * time.Second
)

// BenchmarkMemory runs a scheduler process (scheduler and reconciler, as
// `tagcast scheduler`) and a worker process (concurrency 20), both
// re-executions of the test binary, on PostgreSQL holding 1k, 10k or 100k
// active campaigns. 200 of them fire while the processes run (each is
// sent and recorded); the others are due five years later. Once every run
// is finished and the processes have idled 3 s more (three scheduler ticks,
// three reconciler passes), each process collects garbage and reports its
// Go heap in use and its RSS (VmRSS; VmHWM is the peak). Figures in MB; they
// should not grow with the campaign count. Run with -benchtime=1x.
func BenchmarkMemory(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run("campaigns="+strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				memoryOnce(b, n)
			}
		})
	}
}

func memoryOnce(b *testing.B, n int) {
	s := newStack(b, testenv.Postgres(b), raised, nil)
	s.seedFuture(b, n-memoryDue)
	due := time.Now().Add(2 * time.Second)
	s.createAt(b, memoryDue, func(i int) time.Time { return due.Add(time.Duration(i) * time.Millisecond) })
	if got := s.count(b, `SELECT count(*) FROM campaigns WHERE status = 'active'`); got != n {
		b.Fatalf("%d active campaigns, want %d", got, n)
	}
	env := helperEnvOf{pgURL: s.dbURL, redisAddr: s.redis.Addr, emuURL: s.emuURL,
		hourly: raised.Hourly, daily: raised.Daily, concurrency: memoryConcurrency}
	sched := startHelper(b, roleMemSched, env)
	work := startHelper(b, roleMemWorker, env)
	waitFor(b, 2*time.Minute, "the due runs finished", func() bool {
		return s.count(b, `SELECT count(*) FROM runs WHERE finished_at IS NOT NULL`) == memoryDue
	})
	time.Sleep(memoryIdle) // the processes keep ticking over the whole table
	sched.stop(b)
	work.stop(b)
	if got := s.count(b, `SELECT count(*) FROM sends WHERE status = 'sent'`); got != memoryDue {
		b.Fatalf("%d sends sent, want %d", got, memoryDue)
	}
	const mb = 1 << 20
	for _, r := range []memReport{sched.memReport(b), work.memReport(b)} {
		prefix := "sched"
		if r.Role == roleMemWorker {
			prefix = "worker"
		}
		b.ReportMetric(float64(r.HeapInuse)/mb, prefix+"_heap_MB")
		b.ReportMetric(float64(r.RSS)/mb, prefix+"_rss_MB")
		b.ReportMetric(float64(r.HWM)/mb, prefix+"_peak_rss_MB")
		b.Logf("%s: heap in use %.1f MB, RSS %.1f MB (peak %.1f MB), Go sys %.1f MB",
			r.Role, float64(r.HeapInuse)/mb, float64(r.RSS)/mb, float64(r.HWM)/mb, float64(r.Sys)/mb)
	}
}
