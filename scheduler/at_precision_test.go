package scheduler

import (
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// A one-off `at` with a fraction finer than a microsecond (RFC 3339 allows
// nanoseconds, and ParseFile accepts them) is rounded up to the store's
// precision, never down: truncated, next_run_at and the run's scheduled_for
// were earlier than the instant asked for, and the worker, which waits for
// scheduled_for, could send before it.
func TestAnAtFinerThanAMicrosecondIsNeverEarly(t *testing.T) {
	t.Parallel()
	at := utc("2026-12-01T09:00:00Z").Add(900 * time.Nanosecond)
	created := at.Add(-time.Hour).Truncate(time.Second)
	b := setup(t, created, Config{Interval: time.Second, ReleaseLead: -1})
	c, err := b.store.Create(b.ctx, validated(t, newCampaign("sale", campaign.Schedule{At: &at}), created), created)
	if err != nil {
		t.Fatal(err)
	}
	if c.NextRunAt == nil || c.NextRunAt.Before(at) {
		t.Errorf("stored next_run_at %v is before the requested instant %s", c.NextRunAt, at.Format(time.RFC3339Nano))
	}
	b.tickAt(t, at.Add(-1500*time.Millisecond))
	b.tickAt(t, at.Add(time.Second))
	runs := runsOf(t, b.store, c.ID)
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	if runs[0].ScheduledFor.Before(at) {
		t.Errorf("run scheduled_for %s is before the requested instant %s: the worker may send early",
			runs[0].ScheduledFor.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
	}
}
