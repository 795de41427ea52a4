package campaign

import (
	"testing"
	"time"
)

// TestTimingLatestFireEveryStaysOnItsGrid: an @every schedule's occurrences
// after a due fire are due, due+d, due+2d, ...; the latest one at or before
// now is one of them, not an instant that depends on how far back
// LatestFire's doubling probe happened to look.
func TestTimingLatestFireEveryStaysOnItsGrid(t *testing.T) {
	t.Parallel()
	due := utc("2026-12-01T10:00:00Z")
	tests := []struct {
		name string
		s    Schedule
		now  time.Time
		want time.Time
	}{
		{"down five and a half hours", Schedule{Cron: "@every 1h"}, utc("2026-12-01T15:30:00Z"), utc("2026-12-01T15:00:00Z")},
		{"30 s after an occurrence", Schedule{Cron: "@every 1h"}, utc("2026-12-01T15:00:30Z"), utc("2026-12-01T15:00:00Z")},
		{"exactly at an occurrence", Schedule{Cron: "@every 90m"}, utc("2026-12-01T14:30:00Z"), utc("2026-12-01T14:30:00Z")},
		{"just late", Schedule{Cron: "@every 1h"}, utc("2026-12-01T10:00:05Z"), due},
		{"up to the end", Schedule{Cron: "@every 1h", End: tp("2026-12-01T13:30:00Z")}, utc("2026-12-02T00:00:00Z"), utc("2026-12-01T13:00:00Z")},
		{"end on an occurrence excludes it", Schedule{Cron: "@every 1h", End: tp("2026-12-01T13:00:00Z")}, utc("2026-12-02T00:00:00Z"), utc("2026-12-01T12:00:00Z")},
	}
	for _, tt := range tests {
		got, err := tt.s.LatestFire(due, tt.now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("%s: LatestFire(%s, %s) = %s, %v; want %s", tt.name, due, tt.now, got, err, tt.want)
		}
		// It is one of the fires NextAfter walks from due.
		if n, ok, err := tt.s.NextAfter(got); err != nil || (ok && !n.After(tt.now)) {
			t.Errorf("%s: NextAfter(%s) = %s, %v; want a fire after now", tt.name, got, n, err)
		}
	}
}

// TestTimingEveryStartFiresAtStart: "fires are at or after start"; an
// @every schedule with a start fires at the start, on whole seconds, and
// every d after it, not one second short of start+d.
func TestTimingEveryStartFiresAtStart(t *testing.T) {
	t.Parallel()
	s := Schedule{Cron: "@every 1h", Start: tp("2026-12-01T10:00:00Z")}
	got := fires(t, s, utc("2026-12-01T08:00:00Z"), 3)
	want := []time.Time{utc("2026-12-01T10:00:00Z"), utc("2026-12-01T11:00:00Z"), utc("2026-12-01T12:00:00Z")}
	if len(got) != len(want) {
		t.Fatalf("fires = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("fires = %v, want %v", got, want)
			break
		}
	}
	// A start between seconds: the first whole second at or after it.
	s.Start = func() *time.Time { x := utc("2026-12-01T10:00:00Z").Add(300 * time.Millisecond); return &x }()
	if n, _, _ := s.NextAfter(utc("2026-12-01T08:00:00Z")); !n.Equal(utc("2026-12-01T10:00:01Z")) {
		t.Errorf("start 10:00:00.3: first fire %s, want 10:00:01", n)
	}
	// Validation agrees (FirstFire is what a created campaign starts with).
	f, ok, err := s.FirstFire(utc("2026-12-01T08:00:00Z"))
	if err != nil || !ok || f.Before(*s.Start) || f.Sub(*s.Start) >= time.Second {
		t.Errorf("FirstFire = %s, %v, %v; want the start's second", f, ok, err)
	}
}
