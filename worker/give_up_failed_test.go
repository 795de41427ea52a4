package worker_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/worker"
)

// A send whose last allowed attempt answers 500 ends failed for good
// ("giving up after N attempts"). The metric (and the log line's outcome
// field, at warn level) calls that attempt "retry", the class of something
// that will be tried again; tagcast_worker_sends_total{outcome="failed"}
// never counts it, so an alert on failed sends misses every campaign lost
// to an outage. (A 429 after a fail-over is re-labelled unknown the same
// way decide re-labels what the send became.)
func TestGivingUpCountsAsFailed(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := worker.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, envOpts{metrics: m, jump: true, backoff: worker.Backoff{Base: time.Second, Cap: time.Minute, MaxAttempts: 2}})
	if err := e.emu.SetFaults(testKey, &emulator.Faults{Error500: 1}); err != nil {
		t.Fatal(err)
	}
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendFailed || sends[0].Attempts != 2 {
		t.Fatalf("send %s after %d attempts, want failed after 2", sends[0].Status, sends[0].Attempts)
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tagcast_worker_sends_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "outcome" {
					got[l.GetValue()] = mt.GetCounter().GetValue()
				}
			}
		}
	}
	if got["failed"] != 1 || got["retry"] != 1 {
		t.Errorf("sends_total by outcome = %v; want retry 1 (the first 500) and failed 1 (the attempt that gave up)", got)
	}
}
