package campaign

import (
	"testing"
	"time"
)

// scheduleFile is a valid campaign file with the given schedule mapping.
func scheduleFile(sched string) []byte {
	return []byte("name: sched\napp: main\nschedule: " + sched + "\n" +
		"push: {platform: [ios], fromuserid: system, message: {objectName: \"RC:TxtMsg\", content: '{\"content\":\"x\"}'}, " +
		"audience: {is_to_all: true}, notification: {alert: x}}\n")
}

// robfig/cron makes any @every delay under a second one second and drops
// fractions, so "@every -1h" would fire every second: such specs are
// refused at creation.
func TestEveryNeedsWholeSecondsOfAtLeastOne(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		spec string
		want time.Duration // the period written; 0: must be rejected
	}{
		{"@every -1h", 0},
		{"@every 0s", 0},
		{"@every 1ns", 0},
		{"@every 1500ms", 1500 * time.Millisecond},
		{"CRON_TZ=Asia/Shanghai @every 90s", 90 * time.Second},
	} {
		c, err := ParseFile(scheduleFile("{cron: '"+tt.spec+"'}"), testOpts)
		if err != nil {
			continue // rejected: fine
		}
		if tt.want == 0 {
			t.Errorf("%q accepted (next_run_at %s, then every %s); want a schedule.cron error",
				tt.spec, c.NextRunAt, gap(t, c.Schedule, *c.NextRunAt))
			continue
		}
		if got := gap(t, c.Schedule, *c.NextRunAt); got != tt.want {
			t.Errorf("%q accepted but fires every %s, not %s; want it rejected or honoured", tt.spec, got, tt.want)
		}
	}
}

func gap(t *testing.T, s Schedule, from time.Time) time.Duration {
	t.Helper()
	n, ok, err := s.NextAfter(from)
	if err != nil || !ok {
		t.Fatalf("NextAfter(%s) = %s, %v, %v", from, n, ok, err)
	}
	return n.Sub(from)
}

// An @every schedule fires at its start, then every period after, also when
// created after its start: start 07:30, @every 1h, created 08:00, fires
// 08:30 (not 09:00, an hour from creation).
func TestEveryWithAPastStartKeepsTheStartsGrid(t *testing.T) {
	t.Parallel()
	start := utc("2026-11-20T07:30:00Z")
	s := Schedule{Cron: "@every 1h", Start: &start}
	got, ok, err := s.FirstFire(clockNow) // 08:00
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if off := got.Sub(start) % time.Hour; off != 0 {
		t.Errorf("FirstFire(%s) = %s: %s off the grid start+k·1h (want 08:30:00Z)", clockNow, got, off)
	}
	c, err := ParseFile(scheduleFile("{cron: '@every 1h', start: '2026-11-20T07:30:00Z'}"), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if want := utc("2026-11-20T08:30:00Z"); c.NextRunAt == nil || !c.NextRunAt.Equal(want) {
		t.Errorf("ParseFile next_run_at = %v, want %s", c.NextRunAt, want)
	}
}

// An at of the zero instant parses: it is in the past like any other, not
// taken for an unparsable one and stored done without a word.
func TestAtZeroInstantIsInThePast(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"0001-01-01T00:00:00Z", "0001-01-01T08:00:00+08:00"} {
		c, err := ParseFile(scheduleFile("{at: '"+at+"'}"), testOpts)
		if err == nil {
			t.Errorf("at %s (in the past) accepted: next_run_at %v, status %q; want a schedule.at error", at, c.NextRunAt, c.Status)
		}
	}
}
