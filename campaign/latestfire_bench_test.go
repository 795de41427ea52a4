package campaign

import (
	"testing"
	"time"
)

// BenchmarkLatestFire: what a late claim costs, from a routine catch-up to
// a dense cron's long silence.
func BenchmarkLatestFire(b *testing.B) {
	for _, bb := range []struct {
		name     string
		s        Schedule
		due, now time.Time
	}{
		{"hourly, down 5.5 hours", Schedule{Cron: "0 * * * *"}, utc("2026-12-01T10:00:00Z"), utc("2026-12-01T15:30:00Z")},
		{"per second, down a year", Schedule{Cron: "* * * * * *"}, utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00.5Z")},
		{"office-hours seconds, a weekend", Schedule{Cron: "* * 9-17 * * MON-FRI", Timezone: "Europe/Berlin"},
			utc("2026-03-06T11:00:00Z"), utc("2026-03-09T07:00:00Z")},
		{"days 1-15 seconds, a month", Schedule{Cron: "* * * 1-15 * *"}, utc("2026-02-01T00:00:00Z"), utc("2026-02-28T12:00:00Z")},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bb.s.LatestFire(bb.due, bb.now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
