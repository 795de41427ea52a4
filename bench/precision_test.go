package bench

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/internal/testenv"
)

// Fire precision settings (issue 6 point 6): 1,000 campaigns due in the
// same second; asynq's server gets the same concurrency as the worker.
const (
	precisionCampaigns   = 1000
	precisionConcurrency = 100
)

// BenchmarkFirePrecision measures, on the real clock and in one run, the
// lag from each of 1,000 one-off campaigns' scheduled instant (spread 1 ms
// apart over one second, as the benchmark created them; a run whose
// scheduled_for differs fails it) to
//
//   - enq: the run task in asynq (the scheduler's enqueued_at; negative:
//     the scheduler hands held runs to the queue ReleaseLead, 500 ms, ahead
//     and the worker waits inline for the instant);
//   - send: the attempt begun (the worker waits out any remainder before
//     the instant, reserves the quota slot and claims the send, its
//     attempt begun: the push call starts next);
//   - emu: the push arriving at the emulator;
//
// with the scheduler (interval 1 s, lookahead 2 s), a worker with
// concurrency 100, PostgreSQL and Redis, the quota raised out of the way;
// and next to it asynq's own ProcessAt path (a server with the worker's
// concurrency and poll intervals, no-op handler): scheduled instant →
// handler start.
// Metrics are milliseconds (p50, p99, max) and early counts. Run with
// -benchtime=1x.
func BenchmarkFirePrecision(b *testing.B) {
	for range b.N {
		precisionOnce(b)
	}
}

func precisionOnce(b *testing.B) {
	const n = precisionCampaigns
	ctx := context.Background()
	s := newStack(b, testenv.Postgres(b), raised, nil)
	// Creating 1,000 campaigns takes a few seconds on a busy machine; the
	// scheduler must start at least its lookahead before the instant.
	fireAt := time.Now().Add(10 * time.Second).Truncate(time.Second)
	instant := func(i int) time.Time { return fireAt.Add(time.Duration(i) * time.Millisecond) }
	// Every lag is measured from the instant given here, not from the
	// scheduled_for the scheduler under test writes.
	given := map[int64]time.Time{} // campaign id -> its instant, as created
	for i, id := range s.createAt(b, n, instant) {
		given[id] = instant(i)
	}
	srv := s.startWorker(b, precisionConcurrency)
	lead := time.Until(fireAt)
	stop := s.startScheduler(b)
	b.Logf("scheduler started %s before the instant", lead.Round(time.Millisecond))
	b.ReportMetric(ms(lead), "sched_lead_ms")
	waitFor(b, 2*time.Minute, "every run finished", func() bool {
		return s.count(b, `SELECT count(*) FROM runs WHERE finished_at IS NOT NULL`) == n
	})
	stop()
	if err := srv.Shutdown(); err != nil {
		b.Fatal(err)
	}

	ids := s.runIDs(b)
	var enq, send, emu lags
	for _, id := range ids {
		r, sends, err := s.store.GetRun(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if len(sends) != 1 || sends[0].Status != "sent" || r.EnqueuedAt == nil || sends[0].ClaimedAt == nil || sends[0].SentAt == nil {
			b.Fatalf("run %d: %s, %d sends (%+v)", id, r.Status, len(sends), sends)
		}
		at, ok := given[r.CampaignID]
		if !ok {
			b.Fatalf("run %d: campaign %d was not created by this benchmark", id, r.CampaignID)
		}
		if !r.ScheduledFor.Equal(at) {
			b.Errorf("run %d: scheduled_for %s, campaign %d was given %s", id,
				r.ScheduledFor.Format(time.RFC3339Nano), r.CampaignID, at.Format(time.RFC3339Nano))
		}
		enq = append(enq, r.EnqueuedAt.Sub(at))
		send = append(send, sends[0].SentAt.Sub(at))
	}
	for _, p := range s.emu.PushesFor(appKey) {
		// The alert is "campaign <id> at <fire time>".
		f := strings.Fields(p.Request.Notification.Alert)
		id, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			b.Fatalf("push %q: %v", p.Request.Notification.Alert, err)
		}
		at, ok := given[id]
		if !ok {
			b.Fatalf("push %q: campaign %d was not created by this benchmark", p.Request.Notification.Alert, id)
		}
		emu = append(emu, p.ReceivedAt.Sub(at))
	}
	if len(enq) != n || len(emu) != n {
		b.Fatalf("%d runs and %d pushes, want %d each", len(enq), len(emu), n)
	}
	asynqLags := s.asynqProcessAt(b, n, precisionConcurrency)

	// Handed to the queue ReleaseLead (500 ms) ahead by design: its
	// quantiles are reported, not its "early" count. A send that began, or
	// a push that arrived, before its instant is a failure.
	b.ReportMetric(ms(enq.quantile(0.5)), "enq_p50_ms")
	b.ReportMetric(ms(enq.quantile(0.99)), "enq_p99_ms")
	b.ReportMetric(ms(enq.quantile(1)), "enq_max_ms")
	if e := send.early() + emu.early(); e != 0 {
		b.Errorf("early: %d sends, %d pushes before their instant", send.early(), emu.early())
	}
	send.report(b, "send")
	emu.report(b, "emu")
	asynqLags.report(b, "asynq")
	b.Logf("tagcast enqueue %s", enq)
	b.Logf("tagcast send    %s", send)
	b.Logf("tagcast emu     %s", emu)
	b.Logf("asynq ProcessAt handler %s", asynqLags)
}

// asynqProcessAt enqueues n no-op tasks with ProcessAt spread over one
// second a few seconds ahead, starts a server with concurrency conc and the
// worker's poll intervals, and returns each task's scheduled instant → handler start lag.
func (s *stack) asynqProcessAt(b *testing.B, n, conc int) lags {
	b.Helper()
	fireAt := time.Now().Add(3 * time.Second).Truncate(time.Second)
	var mu sync.Mutex
	var out lags
	all := make(chan struct{})
	// The worker's poll intervals (worker.ServerConfig defaults), as in
	// asynqNoopRate: asynq's own (5 s, 1 s) would make the baseline slower.
	srv := asynq.NewServerFromRedisClient(s.rdb, asynq.Config{
		Concurrency: conc, Queues: map[string]int{"at": 1}, LogLevel: asynq.FatalLevel,
		DelayedTaskCheckInterval: time.Second, TaskCheckInterval: 200 * time.Millisecond,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("at", func(_ context.Context, t *asynq.Task) error {
		started := time.Now()
		var at time.Time
		if err := at.UnmarshalText(t.Payload()); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		out = append(out, started.Sub(at))
		if len(out) == n {
			close(all)
		}
		return nil
	})
	client := asynq.NewClientFromRedisClient(s.rdb)
	for i := range n {
		at := fireAt.Add(time.Duration(i) * time.Millisecond)
		payload, _ := at.MarshalText()
		if _, err := client.Enqueue(asynq.NewTask("at", payload), asynq.Queue("at"), asynq.ProcessAt(at)); err != nil {
			b.Fatal(err)
		}
	}
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatal("asynq did not process every ProcessAt task within a minute")
	}
	mu.Lock()
	defer mu.Unlock()
	return out
}
