package scheduler

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/campaign"
)

// TestEveryAfterDowntimeStaysOnItsGrid: an @every 1h campaign fires at
// 09:00, then the scheduler is down until after 14:00 or 15:00. A fire
// less than MissedAfter late is "simply late and fires" (doc.go "Missed
// fires"), `missed: once` fires "the latest missed occurrence", and either
// way the fire and the next one are instants of the hourly grid.
func TestEveryAfterDowntimeStaysOnItsGrid(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		missed   campaign.MissedPolicy
		back     string // when the scheduler ticks again
		wantFire string
		wantNext string
	}{
		{"skip, back 30 s after 14:00", campaign.MissedSkip, "2026-12-01T14:00:30Z", "2026-12-01T14:00:00Z", "2026-12-01T15:00:00Z"},
		{"once, back at 15:30", campaign.MissedOnce, "2026-12-01T15:30:00Z", "2026-12-01T15:00:00Z", "2026-12-01T16:00:00Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			created := utc("2026-12-01T08:00:00Z")
			b := setup(t, created, Config{})
			c := create(t, b.store, newCampaign("hourly", campaign.Schedule{Cron: "@every 1h", Missed: tt.missed}), created)
			if c.NextRunAt == nil || !c.NextRunAt.Equal(utc("2026-12-01T09:00:00Z")) {
				t.Fatalf("first fire %v, want 09:00", c.NextRunAt)
			}
			b.tickAt(t, utc("2026-12-01T09:00:00Z"))
			b.tickAt(t, utc(tt.back))
			if diff := cmp.Diff(times("2026-12-01T09:00:00Z", tt.wantFire), scheduledFor(runsOf(t, b.store, c.ID))); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
			got, err := b.store.Get(b.ctx, c.ID, campaign.RunsQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if want := utc(tt.wantNext); got.NextRunAt == nil || !got.NextRunAt.Equal(want) {
				t.Errorf("next_run_at %v, want %s (the hourly grid)", got.NextRunAt, want)
			}
		})
	}
}
