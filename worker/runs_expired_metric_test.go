package worker_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/worker"
)

// A run the worker finds past its deliver_within is expired and counted in
// tagcast_runs_expired_total once, by app; a run the store did not expire
// (its status is not expired) is not counted.
func TestExpiredRunIsCounted(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := worker.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.InitApps(testApp)
	e := setup(t, envOpts{metrics: m})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, time.Hour)
	e.clock.Set(t0.Add(2 * time.Hour))
	for range 2 {
		if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
			t.Fatal(err)
		}
	}
	if run, _ := e.run(ids[0]); run.Status != campaign.RunExpired {
		t.Fatalf("run %s, want expired", run.Status)
	}
	m.RunExpired(campaign.Run{App: testApp, Status: campaign.RunDone}) // not expired: not counted
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "tagcast_runs_expired_total" {
			for _, s := range mf.GetMetric() {
				got[s.GetLabel()[0].GetValue()] = s.GetCounter().GetValue()
			}
		}
	}
	if len(got) != 1 || got[testApp] != 1 {
		t.Errorf("tagcast_runs_expired_total by app = %v, want %s: 1", got, testApp)
	}
}
