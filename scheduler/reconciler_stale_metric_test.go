package scheduler

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
)

// A send whose worker crashed mid-attempt is settled unknown by whichever
// reconciler (or worker) finds its lease lapsed first: OnStaleSend (the
// tagcast_worker_stale_sends_total metric) hears of it once, from the one
// that settled it, and never again on later passes.
func TestReconcilerReportsEachStaleSendOnce(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T09:00:00Z")
	b := setupReconcile(t, sqliteURL(t), start, nil)
	at := start
	c := create(t, b.store, newCampaign("a", campaign.Schedule{At: &at}), start)
	b.tick(t, at)
	run := runsOf(t, b.store, c.ID)[0]
	_, sends, err := b.store.GetRun(b.ctx, run.ID)
	if err != nil || len(sends) != 1 {
		t.Fatal(sends, err)
	}
	if _, err := b.store.ClaimSend(b.ctx, sends[0].ID, at, time.Minute); err != nil {
		t.Fatal(err)
	}
	var reported [2][]campaign.Send
	var recs [2]*Reconciler
	for i := range recs {
		client, inspector := newAsynq(t, b.redis)
		recs[i], err = NewReconciler(ReconcilerConfig{Store: b.store, Queue: client, Inspector: inspector, Clock: b.clock,
			Logger: zerolog.Nop(), OnStaleSend: func(sd campaign.Send) { reported[i] = append(reported[i], sd) }})
		if err != nil {
			t.Fatal(err)
		}
	}
	tick := func(r *Reconciler) ReconcileResult {
		t.Helper()
		res, err := r.Tick(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	b.clock.Set(at.Add(30 * time.Second))
	tick(recs[0])
	if len(reported[0]) != 0 {
		t.Fatalf("within the lease: %d stale sends reported", len(reported[0]))
	}
	b.clock.Set(at.Add(2 * time.Minute))
	if res := tick(recs[0]); res.StaleSends != 1 {
		t.Fatalf("after the lease: %+v, want 1 stale send", res)
	}
	tick(recs[1])
	tick(recs[0])
	if len(reported[0]) != 1 || len(reported[1]) != 0 {
		t.Fatalf("reported %d and %d times by the two reconcilers, want once, by the first", len(reported[0]), len(reported[1]))
	}
	if sd := reported[0][0]; sd.ID != sends[0].ID || sd.Status != campaign.SendUnknown || sd.App != run.App {
		t.Errorf("reported %+v, want send %d of app %s, unknown", sd, sends[0].ID, run.App)
	}
}
