package worker_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/worker"
)

// Was: Metrics.InitApps exists "so that an alert on their increase sees
// the first one", and tagcast (workerMetrics in cmd/tagcast/serve.go) calls
// it with every configured app, but it started only
// tagcast_worker_stale_sends_total. tagcast_worker_sends_total{app,outcome}
// was created at its first Inc, so the first failed, unknown or
// rate_limited send of a process's life appeared as a new series already
// at 1, and increase()/rate() over it was 0: an alert such as
// increase(tagcast_worker_sends_total{outcome="unknown"}[1h]) > 0 did not
// fire for it. With the default quota (3 pushes a day per app) nearly every
// such send is the first of its series since the last restart.
func TestRareSendOutcomesStartAtZero(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := worker.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.InitApps("main")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "tagcast_worker_sends_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			var app, outcome string
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "app":
					app = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			if app == "main" {
				have[outcome] = true
			}
		}
	}
	for _, o := range []pushapi.Outcome{pushapi.OutcomeFailed, pushapi.OutcomeUnknown, pushapi.OutcomeRateLimited} {
		if !have[string(o)] {
			t.Errorf("after InitApps(\"main\"): tagcast_worker_sends_total{app=\"main\",outcome=%q} absent; want it at 0, so that the app's first %s send is an increase an alert sees", o, o)
		}
	}
}
