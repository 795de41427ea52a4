package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// fireLagSamples returns the sample count and sum of
// tagcast_worker_fire_lag_seconds.
func fireLagSamples(t *testing.T, reg *prometheus.Registry) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == "tagcast_worker_fire_lag_seconds" {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return n, sum
}

// TestFireLagOncePerSend: tagcast_worker_fire_lag_seconds is "first
// attempt of a send minus its run's scheduled instant", one sample per send.
// A 429 gives the attempt back (the send returns to pending with its
// attempt count restored), so the send's next, real attempt is again
// attempt 1: it must not be observed a second time.
func TestFireLagOncePerSend(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := worker.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// The emulator allows 1 an hour while the guard allows 100: the second
	// run's push is answered 429.
	e := setup(t, envOpts{metrics: m, emuQuota: &emulator.Quota{Hourly: 1, Daily: 10}})
	ids := fire(t, e.ctx, e.store, 2, body(), t0, t0, 0)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	s := snoozeOf(t, e.handler.ProcessRun(e.ctx, ids[1]))
	e.clock.Set(s.Until)
	if err := e.handler.ProcessRun(e.ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if c := e.emu.Counters(testKey); c.Accepted != 2 || c.RateLimited != 1 {
		t.Fatalf("emulator: %d accepted, %d rate limited; want 2 and 1", c.Accepted, c.RateLimited)
	}
	if n, _ := fireLagSamples(t, reg); n != 2 {
		t.Errorf("fire lag: %d samples for 2 sends, want 2 (one per send)", n)
	}
}

// An operator's retry (tagcast campaign retry) resets the send's attempts
// to 0, so its next attempt is attempt 1 again: it must not be observed as
// a second, late fire of the send. Both paths are guarded: a run read from
// the store (ProcessRun: the run's Retries), and a run's first send claimed
// from the task's hints (ClaimFirstSend, no read of the run), as when the
// reconciler re-enqueues a retried run with its hints and it is processed
// within InlineWait of its instant.
func TestFireLagNotObservedOnOperatorRetry(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		retryAt time.Time
		process func(e *env, id int64) error
	}{
		{"run read from the store", t0.Add(3 * time.Hour), func(e *env, id int64) error { return e.handler.ProcessRun(e.ctx, id) }},
		{"first send from the task's hints", t0.Add(5 * time.Second), func(e *env, id int64) error {
			return e.handler.ProcessTask(e.ctx, hintedTask(e.t, id, testApp, t0))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			m, err := worker.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			e := setup(t, envOpts{metrics: m, pushDisabled: true}) // the service answers 1009: failed
			ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
			if err := c.process(e, ids[0]); err != nil {
				t.Fatal(err)
			}
			if n, sum := fireLagSamples(t, reg); n != 1 || sum > 1 {
				t.Fatalf("after the first attempt: %d samples, sum %.0fs; want 1 sample of ~0s", n, sum)
			}
			e.clock.Set(c.retryAt) // the operator retries the failed send
			if n, err := e.store.ResetForRetry(e.ctx, ids[0], campaign.RetryOptions{}, c.retryAt); err != nil || n != 1 {
				t.Fatalf("ResetForRetry = %d, %v", n, err)
			}
			if err := c.process(e, ids[0]); err != nil {
				t.Fatal(err)
			}
			if got := e.emu.Counters(testKey); got.NotEnabled != 2 {
				t.Fatalf("emulator answered %d pushes with 1009, want 2 (the fire and the retry)", got.NotEnabled)
			}
			if n, sum := fireLagSamples(t, reg); n != 1 {
				t.Errorf("fire lag: %d samples (sum %.0fs) for 1 send after an operator retry, want 1: the retry was observed as a second fire", n, sum)
			}
		})
	}
}

// With the service's default quota (2 an hour, 3 a day) a fourth push of
// the day is deferred to the next day by design, its first attempt hours
// after the run's instant. The fire lag buckets must reach that far: a
// sample above the largest finite bucket lands in +Inf, where
// histogram_quantile can only answer that bucket's bound, and a dashboard
// cannot tell a send 1h late from one 15h late.
func TestFireLagBucketsCoverQuotaDeferrals(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := worker.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := quota.DefaultPolicy()
	e := setup(t, envOpts{metrics: m, jump: true, policy: p, emuQuota: &emulator.Quota{Hourly: p.Hourly, Daily: p.Daily}})
	ids := fire(t, e.ctx, e.store, 4, body(), t0, t0, 0)
	for _, id := range ids {
		if err := e.handler.ProcessRun(e.ctx, id); err != nil {
			t.Fatalf("run %d: %v", id, err)
		}
	}
	if c := e.emu.Counters(testKey); c.Accepted != 4 {
		t.Fatalf("emulator accepted %d, want 4", c.Accepted)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tagcast_worker_fire_lag_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		b := h.GetBucket()
		last := b[len(b)-1]
		if over := h.GetSampleCount() - last.GetCumulativeCount(); over > 0 {
			t.Errorf("fire lag: %d of %d samples above the largest finite bucket (le=%gs); the latest send was %s late (sum %.0fs): histogram_quantile reports it as %gs",
				over, h.GetSampleCount(), last.GetUpperBound(), e.clock.Now().Sub(t0), h.GetSampleSum(), last.GetUpperBound())
		}
		if last.GetUpperBound() < 2*24*3600 {
			t.Errorf("fire lag: largest finite bucket %gs, want at least 2 days (a send may wait a day for the quota)", last.GetUpperBound())
		}
		return
	}
	t.Fatal("no fire lag metric")
}

// The queue collector reads Redis at scrape time, and asynq's inspector
// takes no context. With Redis stalled (CLIENT PAUSE here; a long fork, a
// failover, a partition on kept connections in production) go-redis'
// timeouts and retries add up past Prometheus' default 10 s scrape_timeout,
// and the whole /metrics target would go down with it. A collection is
// bounded: past its timeout the scrape counts an error and serves no queue
// statistics, and scrapes that keep coming during the stall share the one
// read in flight rather than pile up reads of their own. The client waits
// out the whole stall (its read timeout is longer than the pause), so a
// scrape that waited for Redis would come back with the statistics: a
// scrape without them, an error counted, is one the bound ended (no
// wall-clock assertion needed).
func TestQueueCollectorBoundedWhenRedisStalls(t *testing.T) {
	t.Parallel()
	if worker.DefaultQueueCollectTimeout > 5*time.Second {
		t.Errorf("DefaultQueueCollectTimeout %s, want at most half of Prometheus' default 10s scrape_timeout", worker.DefaultQueueCollectTimeout)
	}
	srv := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: time.Minute})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	if err := queue.Register(ctx, rdb, queue.DefaultQueue); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c := worker.NewQueueCollector(asynq.NewInspectorFromRedisClient(rdb))
	c.Timeout = 100 * time.Millisecond // the default's behaviour, quicker
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	if got := queueMetrics(t, reg); got.queues == 0 || got.errors != 0 {
		t.Fatalf("with Redis up: %+v, want queue statistics and no error", got)
	}

	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.Do(ctx, "CLIENT", "PAUSE", "30000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	conns := rdb.PoolStats().TotalConns
	const scrapes = 3
	for i := range scrapes {
		got := queueMetrics(t, reg)
		if got.queues != 0 || got.errors != float64(i+1) {
			t.Errorf("scrape %d with Redis stalled: %+v, want no queue statistics and %d errors counted", i, got, i+1)
		}
	}
	// One read is in flight, on one connection: the later scrapes waited
	// for it instead of starting reads (and connections) of their own.
	if st := rdb.PoolStats(); st.TotalConns > conns+1 {
		t.Errorf("the inspector's pool grew from %d to %d connections over %d stalled scrapes: more than one read in flight", conns, st.TotalConns, scrapes)
	}
}

type queueScrape struct {
	queues int     // queues with statistics
	errors float64 // asynq_queue_metrics_errors_total
}

// queueMetrics gathers reg and sums up what the queue collector served.
func queueMetrics(t *testing.T, reg *prometheus.Registry) queueScrape {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var s queueScrape
	for _, mf := range mfs {
		switch mf.GetName() {
		case "asynq_queue_paused_total":
			s.queues = len(mf.GetMetric())
		case "asynq_queue_metrics_errors_total":
			s.errors = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return s
}
