package scheduler

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
)

// lagStats summarises fire lags: positive late, negative early.
func lagStats(lags []time.Duration) string {
	slices.Sort(lags)
	early := 0
	for _, l := range lags {
		if l < 0 {
			early++
		}
	}
	q := func(p float64) time.Duration { return lags[int(p*float64(len(lags)-1))] }
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s min=%s early=%d", len(lags), q(0.5), q(0.99), lags[len(lags)-1], lags[0], early)
}

// BenchmarkFireLag1000 measures, on the real clock, the lag from each of
// 1,000 campaigns' scheduled instant (all in the same second) to its run
// being in the queue, for the scheduler (from the instant less ReleaseLead,
// when it means to release the run) (SQLite store, real Redis), and
// next to it asynq's own ProcessAt path with a default server (the time the
// handler starts). Run with -benchtime=1x; figures in the log.
func BenchmarkFireLag1000(b *testing.B) {
	const n = 1000
	for range b.N {
		ctx := context.Background()
		rs := newRedisForBench(b)
		client, _ := newAsynq(b, rs)
		st := openStore(b, sqliteURL(b))
		fireAt := time.Now().Add(4 * time.Second).Truncate(time.Second)
		for i := range n {
			at := fireAt.Add(time.Duration(i) * time.Millisecond) // spread over the second
			c := newCampaign(fmt.Sprintf("c%04d", i), campaign.Schedule{At: &at})
			c.NextRunAt = &at
			if _, err := st.Create(ctx, c, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		s, err := New(Config{Store: st, Queue: client, Logger: zerolog.Nop(), BatchSize: 500})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = s.Run(runCtx); close(done) }()
		time.Sleep(time.Until(fireAt.Add(2 * time.Second)))
		cancel()
		<-done
		runs, err := st.OpenRuns(ctx, 0, 2*n)
		if err != nil {
			b.Fatal(err)
		}
		var lags []time.Duration
		for _, r := range runs {
			if r.EnqueuedAt == nil {
				b.Fatalf("run %d not enqueued", r.ID)
			}
			// Measured from the intended release, ReleaseLead before the
			// instant (the worker waits out the lead itself).
			lags = append(lags, r.EnqueuedAt.Sub(r.ScheduledFor.Add(-DefaultReleaseLead)))
		}
		if len(lags) != n {
			b.Fatalf("%d runs, want %d", len(lags), n)
		}
		b.Logf("scheduler enqueue lag (from the instant less the %s release lead): %s", DefaultReleaseLead, lagStats(lags))

		// asynq's own path: tasks given ProcessAt, a default server.
		fireAt = time.Now().Add(3 * time.Second).Truncate(time.Second)
		var mu sync.Mutex
		var alag []time.Duration
		all := make(chan struct{})
		srv := asynq.NewServer(asynq.RedisClientOpt{Addr: rs.Addr}, asynq.Config{
			Concurrency: 100, Queues: map[string]int{"bench": 1}, LogLevel: asynq.FatalLevel,
		})
		mux := asynq.NewServeMux()
		mux.HandleFunc("bench", func(_ context.Context, t *asynq.Task) error {
			var at time.Time
			if err := at.UnmarshalText(t.Payload()); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			alag = append(alag, time.Since(at))
			if len(alag) == n {
				close(all)
			}
			return nil
		})
		for i := range n {
			at := fireAt.Add(time.Duration(i) * time.Millisecond)
			payload, _ := at.MarshalText()
			if _, err := client.Enqueue(asynq.NewTask("bench", payload), asynq.Queue("bench"), asynq.ProcessAt(at)); err != nil {
				b.Fatal(err)
			}
		}
		if err := srv.Start(mux); err != nil {
			b.Fatal(err)
		}
		select {
		case <-all:
		case <-time.After(30 * time.Second):
			b.Fatal("asynq did not process every task within 30 s")
		}
		srv.Shutdown()
		b.Logf("asynq ProcessAt handler-start lag: %s", lagStats(alag))
	}
}
