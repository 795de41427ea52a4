package worker_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/worker"
)

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
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var samples uint64
	for _, mf := range mfs {
		if mf.GetName() == "tagcast_worker_fire_lag_seconds" {
			for _, m := range mf.GetMetric() {
				samples += m.GetHistogram().GetSampleCount()
			}
		}
	}
	if samples != 2 {
		t.Errorf("fire lag: %d samples for 2 sends, want 2 (one per send)", samples)
	}
}
