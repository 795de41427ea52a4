package scheduler

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
)

// A run expired by the scheduler (created after its deliver_within) or by
// the reconciler (its task lost until deliver_within passed) is reported
// once to OnExpiredRun (the tagcast_runs_expired_total metric), by the one
// that expired it: an alert on missed fires needs them all.
func TestExpiredRunsAreReportedOnce(t *testing.T) {
	t.Parallel()
	t.Run("scheduler", func(t *testing.T) {
		t.Parallel()
		created, at := utc("2026-12-01T08:00:00Z"), utc("2026-12-01T09:00:00Z")
		var got []campaign.Run
		b := setup(t, created, Config{OnExpiredRun: func(r campaign.Run) { got = append(got, r) }})
		c := create(t, b.store, newCampaign("c", campaign.Schedule{At: &at, Missed: campaign.MissedOnce, DeliverWithin: 2 * time.Hour}), created)
		b.tickAt(t, utc("2026-12-01T12:00:00Z"))
		b.tickAt(t, utc("2026-12-01T12:00:01Z"))
		if len(got) != 1 || got[0].CampaignID != c.ID || got[0].Status != campaign.RunExpired || got[0].App == "" {
			t.Errorf("reported %+v, want campaign %d's run once, expired, with its app", got, c.ID)
		}
	})
	t.Run("reconciler", func(t *testing.T) {
		t.Parallel()
		start := utc("2026-12-01T09:00:00Z")
		down := newRecordingQueue()
		down.failUntil = 1 << 30
		b := setupReconcile(t, sqliteURL(t), start, down)
		at := start.Add(time.Minute)
		c := create(t, b.store, newCampaign("b", campaign.Schedule{At: &at, DeliverWithin: 10 * time.Minute}), start)
		if res := b.tick(t, at); res.Fired != 1 || res.Enqueued != 0 {
			t.Fatalf("tick with the queue down: %+v", res)
		}
		var got []campaign.Run
		client, inspector := newAsynq(t, b.redis)
		rec, err := NewReconciler(ReconcilerConfig{Store: b.store, Queue: client, Inspector: inspector, Clock: b.clock,
			Logger: zerolog.Nop(), OnExpiredRun: func(r campaign.Run) { got = append(got, r) }})
		if err != nil {
			t.Fatal(err)
		}
		b.clock.Set(at.Add(11 * time.Minute))
		for range 2 {
			if _, err := rec.Tick(b.ctx); err != nil {
				t.Fatal(err)
			}
		}
		if len(got) != 1 || got[0].CampaignID != c.ID || got[0].Status != campaign.RunExpired || got[0].App == "" {
			t.Errorf("reported %+v, want campaign %d's run once, expired, with its app", got, c.ID)
		}
	})
}
