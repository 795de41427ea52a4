package worker_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/worker"
)

// tagcast_quota_remaining is documented (its help, the collector's comment,
// the README) as what is left now "as tagcast quota status reads it". While
// the App Key is blocked by the service's 429/1008 (until the next window
// boundary), `tagcast quota status` shows every window's remaining as
// "0 (blocked)": no send of the app can go out. The gauge instead reports
// the window's raw remaining count, which a plain 429 even raises (its slot
// is given back): a dashboard or an alert on remaining == 0 saw room for
// the whole block (found by a review). tagcast_quota_blocked_until_seconds
// says until when.
func TestQuotaRemainingZeroWhileAppBlocked(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := worker.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// The emulator allows 1 an hour while the guard allows 100: the second
	// run's push is answered 429 and the app is blocked until the next hour.
	e := setup(t, envOpts{metrics: m, emuQuota: &emulator.Quota{Hourly: 1, Daily: 10}})
	ids := fire(t, e.ctx, e.store, 2, body(), t0, t0, 0)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	_ = snoozeOf(t, e.handler.ProcessRun(e.ctx, ids[1]))
	if c := e.emu.Counters(testKey); c.Accepted != 1 || c.RateLimited != 1 {
		t.Fatalf("emulator: %d accepted, %d rate limited; want 1 and 1", c.Accepted, c.RateLimited)
	}
	st, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if !st.BlockedUntil.After(st.At) {
		t.Fatalf("precondition: app not blocked after the 429 (status %+v)", st)
	}
	got := map[string]float64{}
	for _, s := range gatherMetric(t, reg, "tagcast_quota_remaining") {
		if s.labels["app"] == testApp {
			got[s.labels["window"]] = s.gauge
		}
	}
	if len(got) != 2 || got["hour"] != 0 || got["day"] != 0 {
		t.Errorf("tagcast_quota_remaining while the app is blocked until %s: %v; want hour=0 day=0 (tagcast quota status shows \"0 (blocked)\", nothing can be sent)",
			st.BlockedUntil.UTC().Format("15:04:05"), got)
	}
	var until float64
	for _, s := range gatherMetric(t, reg, "tagcast_quota_blocked_until_seconds") {
		if s.labels["app"] == testApp {
			until = s.gauge
		}
	}
	if want := float64(st.BlockedUntil.Unix()); until != want {
		t.Errorf("tagcast_quota_blocked_until_seconds = %v, want %v (%s)", until, want, st.BlockedUntil.UTC())
	}
}
