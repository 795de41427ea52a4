package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// lineWatch is a guard that tells, on turned, each refusal by the line;
// reg holds the metrics of the handler on it.
type lineWatch struct {
	worker.Guard
	turned chan quota.Waiter
	reg    *prometheus.Registry
}

// lineWaits is tagcast_quota_line_waits_total of the test app.
func (g *lineWatch) lineWaits(t *testing.T) float64 {
	t.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tagcast_quota_line_waits_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == testApp {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func (g *lineWatch) ReserveFor(ctx context.Context, app string, w quota.Waiter) (quota.Reservation, error) {
	res, err := g.Guard.ReserveFor(ctx, app, w)
	var nr *quota.NoRoomError
	if errors.As(err, &nr) && nr.By == quota.ConstraintLine {
		select {
		case g.turned <- w:
		default:
		}
	}
	return res, err
}

// inLine is how many runs hold a place in the test app's line.
func (e *env) inLine() int64 {
	e.t.Helper()
	n, err := e.rdb.ZCard(e.ctx, quota.DefaultPrefix+"{"+testApp+"}:line").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// waitOpts shape twoWaiting's runs.
type waitOpts struct {
	hourly      int              // the app's pushes an hour (10 a day), all used at t0
	firstPush   *pushapi.Request // the earlier run's body; nil: body()
	firstWithin time.Duration    // the earlier run's deliver_within
}

// twoWaiting fires a run due at t0+5s and one due at t0+6s on an app whose
// hour is used at t0; both are refused at t0+6s and wait for the same
// opening, to which the clock is then set. It returns the earlier run, the
// later one, and a handler (with metrics) on a guard that reports the
// line's refusals.
func twoWaiting(t *testing.T, o waitOpts) (*env, int64, int64, *worker.Handler, *lineWatch) {
	t.Helper()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: o.hourly, Daily: 10}})
	push := body()
	if o.firstPush != nil {
		push = *o.firstPush
	}
	first := fire(t, e.ctx, e.store, 1, push, t0.Add(5*time.Second), t0, o.firstWithin)[0]
	later := fire(t, e.ctx, e.store, 1, body(), t0.Add(6*time.Second), t0, 2*time.Hour)[0]
	for range o.hourly {
		if _, err := e.guard.Reserve(e.ctx, testApp); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Set(t0.Add(6 * time.Second))
	for _, id := range []int64{later, first} {
		var s *worker.Snooze
		if err := e.handler.ProcessRun(e.ctx, id); !errors.As(err, &s) || s.Reason != "quota" {
			t.Fatalf("run %d with the hour used: %v, want a snooze for the quota", id, err)
		}
	}
	if n := e.inLine(); n != 2 {
		t.Fatalf("%d runs in the app's line, want the 2", n)
	}
	st, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(st.NextOpening)
	g := &lineWatch{Guard: e.guard, turned: make(chan quota.Waiter, 1), reg: prometheus.NewRegistry()}
	m, err := worker.NewMetrics(g.reg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := worker.NewHandler(worker.Deps{
		Store: e.store, Guard: g, Pushers: map[string]worker.Pusher{testApp: e.client},
		Clock: e.clock, Logger: testLogger(t), Metrics: m, Jitter: func() float64 { return 0.5 },
	}, worker.Config{Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return e, first, later, h, g
}

// Two runs of one app wait for the same opening. The one due later asks
// first: it must not take the slot the earlier one is due, which would
// leave the earlier to wait a day's opening more, past its deliver_by.
func TestRunsWaitingForOneOpeningGoInDueOrder(t *testing.T) {
	t.Parallel()
	e, first, later, h, g := twoWaiting(t, waitOpts{hourly: 1, firstWithin: 2 * time.Hour})
	laterDone := make(chan error, 1)
	go func() { laterDone <- h.ProcessRun(e.ctx, later) }()
	select {
	case <-g.turned:
	case err := <-laterDone:
		_, sends := e.run(later)
		t.Fatalf("the later run asked first and ended (%v), its send %s: it did not wait for the earlier run's turn", err, sends[0].Status)
	case <-time.After(10 * time.Second):
		t.Fatal("the later run was not refused by the line within 10 s")
	}
	if err := h.ProcessRun(e.ctx, first); err != nil {
		t.Fatalf("the earlier run at the opening: %v, want it sent", err)
	}
	var s *worker.Snooze
	if err := <-laterDone; !errors.As(err, &s) || s.Reason != "quota" {
		t.Fatalf("the later run: %v, want a snooze for the next opening", err)
	}
	if run, _ := e.run(first); run.Status != campaign.RunDone {
		t.Errorf("earlier run %s, want done", run.Status)
	}
	if run, sends := e.run(later); run.Status == campaign.RunDone || sends[0].Status == campaign.SendSent {
		t.Errorf("later run %s, send %s: it took the slot", run.Status, sends[0].Status)
	}
	if n := e.inLine(); n != 1 {
		t.Errorf("%d runs in the app's line, want 1 (the later run)", n)
	}
	if n := g.lineWaits(t); n < 1 {
		t.Errorf("tagcast_quota_line_waits_total{app=%q} = %v, want the later run's waits counted", testApp, n)
	}
}

// A run that leaves for good (expired at its deliver_by, before the
// opening, here) gives up its place at once: the run behind it takes the
// room now, not once the place has lapsed.
func TestAnExpiredRunLeavesTheLine(t *testing.T) {
	t.Parallel()
	e, first, later, h, g := twoWaiting(t, waitOpts{hourly: 1, firstWithin: time.Hour})
	if err := h.ProcessRun(e.ctx, first); err != nil {
		t.Fatalf("the earlier run past its deliver_by: %v, want it expired", err)
	}
	if run, _ := e.run(first); run.Status != campaign.RunExpired {
		t.Fatalf("earlier run %s, want expired", run.Status)
	}
	if err := h.ProcessRun(e.ctx, later); err != nil {
		t.Fatalf("the later run with the earlier gone: %v, want it sent at once", err)
	}
	select {
	case w := <-g.turned:
		t.Errorf("%s was refused by the line: the earlier run's place outlived it", w.ID)
	default:
	}
}
