package scheduler

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/campaign"
)

// TestTimingEverySkipKeepsAnOnTimeFireAfterDowntime: an @every 1h campaign
// with `missed: skip`; the scheduler is down from 09:30 and comes back 30 s
// after the 14:00 occurrence. Only 30 s late (under MissedAfter), 14:00 is
// "simply late and fires" (doc.go "Missed fires"), and the campaign keeps
// its hourly grid.
func TestTimingEverySkipKeepsAnOnTimeFireAfterDowntime(t *testing.T) {
	t.Parallel()
	created := utc("2026-12-01T08:00:00Z")
	b := setup(t, created, Config{})
	c := create(t, b.store, newCampaign("hourly", campaign.Schedule{Cron: "@every 1h", Missed: campaign.MissedSkip}), created)
	if c.NextRunAt == nil || !c.NextRunAt.Equal(utc("2026-12-01T09:00:00Z")) {
		t.Fatalf("first fire %v, want 09:00", c.NextRunAt)
	}
	b.tickAt(t, utc("2026-12-01T09:00:00Z"))
	// down from here until 14:00:30
	b.tickAt(t, utc("2026-12-01T14:00:30Z"))
	if diff := cmp.Diff(times("2026-12-01T09:00:00Z", "2026-12-01T14:00:00Z"), scheduledFor(runsOf(t, b.store, c.ID))); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
	got, _ := b.store.Get(b.ctx, c.ID)
	if want := utc("2026-12-01T15:00:00Z"); got.NextRunAt == nil || !got.NextRunAt.Equal(want) {
		t.Errorf("next_run_at %v, want %s (the hourly grid)", got.NextRunAt, want)
	}
}

// TestTimingEveryOnceAfterDowntimeFiresTheLatestOccurrence: `missed: once`
// fires "the latest missed occurrence", an instant of the schedule.
func TestTimingEveryOnceAfterDowntimeFiresTheLatestOccurrence(t *testing.T) {
	t.Parallel()
	created := utc("2026-12-01T08:00:00Z")
	b := setup(t, created, Config{})
	c := create(t, b.store, newCampaign("hourly", campaign.Schedule{Cron: "@every 1h", Missed: campaign.MissedOnce}), created)
	b.tickAt(t, utc("2026-12-01T09:00:00Z"))
	b.tickAt(t, utc("2026-12-01T15:30:00Z"))
	if diff := cmp.Diff(times("2026-12-01T09:00:00Z", "2026-12-01T15:00:00Z"), scheduledFor(runsOf(t, b.store, c.ID))); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
	got, _ := b.store.Get(b.ctx, c.ID)
	if want := utc("2026-12-01T16:00:00Z"); got.NextRunAt == nil || !got.NextRunAt.Equal(want) {
		t.Errorf("next_run_at %v, want %s", got.NextRunAt, want)
	}
}
