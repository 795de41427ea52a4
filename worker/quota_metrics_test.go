package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagcast/tagcast/quota"
)

// statusGuard answers Status from status; the rest of Guard is not used.
type statusGuard struct {
	Guard
	status func(ctx context.Context, app string) (quota.Status, error)
}

func (g statusGuard) Status(ctx context.Context, app string) (quota.Status, error) {
	return g.status(ctx, app)
}

type quotaScrape struct {
	remaining map[string]float64 // by "app/window"
	errors    float64            // tagcast_quota_metrics_errors_total
}

func scrapeQuota(t *testing.T, reg *prometheus.Registry) quotaScrape {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	s := quotaScrape{remaining: map[string]float64{}}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "tagcast_quota_remaining":
			for _, m := range mf.GetMetric() {
				l := map[string]string{}
				for _, p := range m.GetLabel() {
					l[p.GetName()] = p.GetValue()
				}
				s.remaining[l["app"]+"/"+l["window"]] = m.GetGauge().GetValue()
			}
		case "tagcast_quota_metrics_errors_total":
			s.errors = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return s
}

// An app whose quota cannot be read is left out of the scrape, an error
// counted, rather than served a value from an earlier read; the other apps
// are served. Without a handler, nothing is read.
func TestQuotaGaugesLeaveOutAnAppNotRead(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if got := scrapeQuota(t, reg); len(got.remaining) != 0 || got.errors != 0 {
		t.Fatalf("before any handler: %+v, want nothing", got)
	}
	down := false
	m.quota.watch(statusGuard{status: func(_ context.Context, app string) (quota.Status, error) {
		if app == "b" && down {
			return quota.Status{}, errors.New("redis down")
		}
		return quota.Status{Hour: quota.WindowStatus{Remaining: 2}, Day: quota.WindowStatus{Remaining: 5}}, nil
	}}, []string{"a", "b"})
	if got := scrapeQuota(t, reg); len(got.remaining) != 4 || got.remaining["b/hour"] != 2 || got.remaining["b/day"] != 5 || got.errors != 0 {
		t.Fatalf("both apps readable: %+v, want hour 2 and day 5 for a and b", got)
	}
	down = true
	got := scrapeQuota(t, reg)
	if _, ok := got.remaining["b/hour"]; ok || len(got.remaining) != 2 || got.errors != 1 {
		t.Errorf("app b unreadable: %+v, want a's gauges only and 1 error", got)
	}
}

// A guard that does not answer (Redis stalled) costs the scrape its quota
// gauges, not the whole target: the scrape waits at most the collector's
// timeout, counts an error, and a scrape during the stall waits for the
// read in flight rather than start another.
func TestQuotaGaugesBoundedWhenTheGuardStalls(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.quota.timeout = 50 * time.Millisecond
	release := make(chan struct{})
	reads := make(chan string, 10)
	m.quota.watch(statusGuard{status: func(_ context.Context, app string) (quota.Status, error) {
		reads <- app
		<-release // ignores its context, as a Redis client without ContextTimeoutEnabled may
		return quota.Status{Hour: quota.WindowStatus{Remaining: 1}, Day: quota.WindowStatus{Remaining: 1}}, nil
	}}, []string{"a"})
	for i := range 2 {
		if got := scrapeQuota(t, reg); len(got.remaining) != 0 || got.errors != float64(i+1) {
			t.Errorf("scrape %d with the guard stalled: %+v, want no gauges and %d errors", i, got, i+1)
		}
	}
	close(release)
	if n := len(reads); n != 1 {
		t.Errorf("%d reads started by 2 stalled scrapes, want 1", n)
	}
}
