package admin_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/internal/testenv"
)

// durationServer is a bare admin API on an in-memory store whose request
// metrics land in reg, on the clock now (nil: time.Now).
func durationServer(t *testing.T, reg *prometheus.Registry, now func() time.Time, logs *testenv.Buffer) http.Handler {
	t.Helper()
	st := migratedStore(t, "sqlite::memory:")
	log := zerolog.Nop()
	if logs != nil {
		log = zerolog.New(logs)
	}
	srv, err := admin.New(admin.Options{
		Tokens: []string{tokenA}, Apps: []string{"main"},
		Store: st, Operations: admin.StoreOperations{Store: st, Now: now},
		Gatherer: reg, Registerer: reg, Now: now, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv.Handler()
}

// durationHistogram returns the sample sum and the largest finite bucket of
// the series of tagcast_admin_request_duration_seconds for route.
func durationHistogram(t *testing.T, reg *prometheus.Registry, route string) (sum, largest float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tagcast_admin_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					h := m.GetHistogram()
					b := h.GetBucket()
					return h.GetSampleSum(), b[len(b)-1].GetUpperBound()
				}
			}
		}
	}
	t.Fatalf("no tagcast_admin_request_duration_seconds series for route %q", route)
	return 0, 0
}

// README: "a campaign of thousands of failed runs can outlast the CLI's
// 30 s" (POST /v1/campaigns/{id}/retry runs on after the client gave up).
// With prometheus.DefBuckets (largest finite bucket 10 s) every such request
// landed in +Inf, and histogram_quantile answered "10 s" for a retry that
// took a minute. The buckets must reach past the admin client's 30 s timeout.
func TestAdminDurationBucketsCoverLongRetries(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := durationServer(t, reg, nil, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("healthz: %d", rec.Code)
	}
	_, largest := durationHistogram(t, reg, "GET /healthz")
	const clientTimeout = 30 // admin.NewClient's http.Client timeout, which a campaign retry can outlast
	if largest < clientTimeout {
		t.Errorf("tagcast_admin_request_duration_seconds: largest finite bucket le=%gs; a campaign retry documented to outlast the client's %ds lands in +Inf (histogram_quantile reports %gs)",
			largest, clientTimeout, largest)
	}
}

// jumpClock reads a simulated instant that moves an hour ahead at every
// read, as the demo's clock (and the simulated clock of the e2e run) jumps
// ahead while requests are being served.
type jumpClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Hour)
	return c.t
}

// The admin request duration (metric and the access log's "duration") is a
// real elapsed time, as the worker's API latency is (handler.go: "real
// elapsed time, for the latency metric only"), not one on Options.Now, the
// injected schedule clock: when that clock jumps during a request (tagcast
// demo jumps it by hours when every send waits for the quota), a
// sub-millisecond /healthz was recorded as taking an hour.
func TestAdminDurationIsRealTime(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	logs := &testenv.Buffer{}
	clock := &jumpClock{t: t0}
	h := durationServer(t, reg, clock.Now, logs)
	start := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	real := time.Since(start)
	if rec.Code != http.StatusOK {
		t.Fatalf("healthz: %d", rec.Code)
	}
	if got, _ := durationHistogram(t, reg, "GET /healthz"); got > real.Seconds()+1 {
		t.Errorf("tagcast_admin_request_duration_seconds{route=\"GET /healthz\"}: sum %.0fs for a request that took %s of real time: measured on the injected (simulated) clock",
			got, real)
	}
	t.Logf("access log: %s", logs.String())
}
