package scheduler

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/campaign"
)

// TestCatchUpOfADenseCronAfterALongGap guards the scheduler's catch-up of
// a dense cron after a long outage: it comes back on Feb 28 12:00 to a
// `missed: once` campaign due since Feb 1 whose cron fires every second on
// days 1-15, and must fire the latest missed occurrence once (Feb 15
// 23:59:59) and move on to Mar 1. campaign's LatestFire used to walk the
// missed fires one by one and give up ("more than 1000000 occurrences"), so
// the campaign was refused on every tick and its missed fire never went
// out (campaign's TestLatestFireDenseCronAfterALongGap has the cause).
func TestCatchUpOfADenseCronAfterALongGap(t *testing.T) {
	t.Parallel()
	created := utc("2026-01-31T12:00:00Z")
	b := setup(t, created, Config{})
	c := create(t, b.store, newCampaign("dense", campaign.Schedule{Cron: "* * * 1-15 * *", Missed: campaign.MissedOnce}), created)
	if c.NextRunAt == nil || !c.NextRunAt.Equal(utc("2026-02-01T00:00:00Z")) {
		t.Fatalf("first fire %v, want 2026-02-01T00:00:00Z", c.NextRunAt)
	}
	b.tickAt(t, utc("2026-02-28T12:00:00Z"))
	if diff := cmp.Diff(times("2026-02-15T23:59:59Z"), scheduledFor(runsOf(t, b.store, c.ID))); diff != "" {
		t.Errorf("runs after the outage (-want +got):\n%s", diff)
	}
	got, err := b.store.GetCampaign(b.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := utc("2026-03-01T00:00:00Z"); got.NextRunAt == nil || !got.NextRunAt.Equal(want) {
		t.Errorf("next_run_at %v, want %s", got.NextRunAt, want)
	}
}
