package worker_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// metricSample is one series of a gathered metric.
type metricSample struct {
	labels  map[string]string
	counter float64 // counter value (0 if not a counter)
	gauge   float64 // gauge value (0 if not a gauge)
	count   uint64  // histogram sample count
}

// gatherMetric returns every series in reg of metric name ("": all).
func gatherMetric(t *testing.T, reg *prometheus.Registry, name string) []metricSample {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []metricSample
	for _, mf := range mfs {
		if name != "" && mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			s := metricSample{labels: map[string]string{}, counter: m.GetCounter().GetValue(),
				gauge: m.GetGauge().GetValue(), count: m.GetHistogram().GetSampleCount()}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

// tagcast_pushapi_request_duration_seconds is the API latency by host and
// answer code. The client makes a fail-over hop inside one Push: the
// primary answers 503, the backup 200. Each attempt is observed under its
// own host and code (pushapi.WithAttemptObserver): observing the whole
// Push once, under the backup's host and code, would hide the primary's
// 503 and count its time as the backup's latency.
func TestLatencyPerHostSeesFailedPrimary(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := worker.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, envOpts{})
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(primary.Close)
	client, err := pushapi.NewClient(pushapi.ClientConfig{
		AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret), Hosts: []string{primary.URL, e.srvURL},
		Timeout: 2 * time.Second, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := worker.NewHandler(worker.Deps{
		Store: e.store, Guard: e.guard, Pushers: map[string]worker.Pusher{testApp: client},
		Clock: e.clock, Logger: testLogger(t), Metrics: m, Jitter: func() float64 { return 0.5 },
	}, worker.Config{Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	if err := h.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if c := e.emu.Counters(testKey); c.Accepted != 1 {
		t.Fatalf("backup (emulator) accepted %d, want 1 after the fail-over", c.Accepted)
	}
	got := map[string]uint64{}
	for _, s := range gatherMetric(t, reg, "tagcast_pushapi_request_duration_seconds") {
		got[s.labels["host"]+" code="+s.labels["code"]] += s.count
	}
	if got[primary.URL+" code=503"] != 1 || got[e.srvURL+" code=200"] != 1 || len(got) != 2 {
		t.Errorf("latency series %v: want 1 sample for host=%s code=503 (the primary) and 1 for host=%s code=200 (the backup's own hop), nothing else",
			got, primary.URL, e.srvURL)
	}
}

// A send found in flight after its lease (its worker crashed during the
// call) becomes unknown: "the service may have sent it", the outcome an
// operator must review. tagcast_worker_sends_total counts only attempts
// whose Push returned: the crashed worker's increment died with it (or
// never happened). The worker that settles the stale claim counts it in
// tagcast_worker_stale_sends_total, once: not again in sends_total, and
// not again when the run is processed once more.
func TestStaleSendUnknownIsCounted(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := worker.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, envOpts{metrics: m})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	_, sends, err := e.store.GetRun(e.ctx, ids[0])
	if err != nil || len(sends) != 1 {
		t.Fatalf("GetRun: %d sends, %v", len(sends), err)
	}
	// The crashed worker: claimed, called (maybe), never recorded.
	if _, err := e.store.ClaimSend(e.ctx, sends[0].ID, t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(t0.Add(2 * time.Minute)) // its lease lapsed
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	_, sends, err = e.store.GetRun(e.ctx, ids[0])
	if err != nil || sends[0].Status != campaign.SendUnknown {
		t.Fatalf("send after the stale claim: %+v, %v; want unknown", sends, err)
	}
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	var stale, unknown float64
	for _, s := range gatherMetric(t, reg, "") {
		if s.labels["app"] != testApp {
			continue
		}
		if s.labels["outcome"] == string(pushapi.OutcomeUnknown) {
			unknown += s.counter
		}
	}
	for _, s := range gatherMetric(t, reg, "tagcast_worker_stale_sends_total") {
		if s.labels["app"] == testApp {
			stale += s.counter
		}
	}
	if stale != 1 || unknown != 0 {
		t.Errorf("the send resolved unknown after its worker's crash: tagcast_worker_stale_sends_total %v, outcome=\"unknown\" counters %v; want 1 and 0 (counted once)", stale, unknown)
	}
}

// tagcast_quota_remaining ("quota remaining per app and window", README)
// is read from the guard at scrape time. Set only when this worker reserved
// or read the quota, it kept the value of the last reservation after the
// window reopened for as long as no run came: an alert on remaining == 0
// fired all night after the day's last send, and the gauge disagreed with
// `tagcast quota status`.
func TestQuotaRemainingNotStaleAfterWindowReopens(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := worker.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, envOpts{metrics: m, policy: quota.Policy{Hourly: 1, Daily: 10}})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(t0.Add(2 * time.Hour)) // the hour window has reopened
	st, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range gatherMetric(t, reg, "tagcast_quota_remaining") {
		if s.labels["app"] == testApp {
			got[s.labels["window"]] = s.gauge
		}
	}
	want := map[string]float64{"hour": float64(st.Hour.Remaining), "day": float64(st.Day.Remaining)}
	if len(got) != 2 || got["hour"] != want["hour"] || got["day"] != want["day"] {
		t.Errorf("tagcast_quota_remaining two hours after the last send: %v; the guard says %v", got, want)
	}
}
