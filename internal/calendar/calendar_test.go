package calendar

import (
	"testing"
	"time"
)

func TestDay(t *testing.T) {
	t.Parallel()
	load := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	shanghai, santiago, berlin := load("Asia/Shanghai"), load("America/Santiago"), load("Europe/Berlin")
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		name        string
		at          string
		loc         *time.Location
		start, next string
	}{
		{"plain day", "2026-06-01T12:00:00+08:00", shanghai, "2026-05-31T16:00:00Z", "2026-06-01T16:00:00Z"},
		{"month end", "2026-06-30T23:59:59+08:00", shanghai, "2026-06-29T16:00:00Z", "2026-06-30T16:00:00Z"},
		{"spring forward at 02:00: 23 hours", "2026-03-29T12:00:00+02:00", berlin, "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"},
		{"fall back: 25 hours", "2026-10-25T12:00:00+01:00", berlin, "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"},
		// 2026-09-06 00:00 -04 does not exist: the clocks jump to 01:00 -03.
		{"the last hour before a skipped midnight", "2026-09-05T23:30:00-04:00", santiago, "2026-09-05T04:00:00Z", "2026-09-06T04:00:00Z"},
		{"the day whose midnight is skipped", "2026-09-06T12:00:00-03:00", santiago, "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			at := utc(tt.at)
			start, next := Day(at, tt.loc)
			if !start.Equal(utc(tt.start)) || !next.Equal(utc(tt.next)) {
				t.Errorf("Day(%s) = [%s, %s), want [%s, %s)", tt.at, start.UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339), tt.start, tt.next)
			}
			if at.Before(start) || !at.Before(next) {
				t.Errorf("Day(%s) = [%s, %s) does not hold it", tt.at, start.UTC(), next.UTC())
			}
		})
	}
}

// TestInstant: a wall-clock time's only occurrence, the first of two where
// clocks fall back (east of UTC, where time.Date picks the second, and
// west), the end of the gap where they spring forward over it.
func TestInstant(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		zone, wall, want string
	}{
		{"Europe/Berlin", "2026-06-01T12:00:00Z", "2026-06-01T10:00:00Z"},
		{"Asia/Amman", "2021-10-29T00:30:00Z", "2021-10-28T21:30:00Z"},        // not 22:30Z, the repeat
		{"Antarctica/Vostok", "2023-12-18T01:00:00Z", "2023-12-17T18:00:00Z"}, // two hours repeated
		{"America/New_York", "2026-11-01T01:30:00Z", "2026-11-01T05:30:00Z"},
		{"America/New_York", "2026-03-08T02:30:00Z", "2026-03-08T07:00:00Z"}, // 02:00-03:00 skipped
		{"America/Santiago", "2026-09-06T00:00:00Z", "2026-09-06T04:00:00Z"}, // midnight skipped
	} {
		loc, err := time.LoadLocation(tt.zone)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := time.Parse(time.RFC3339, tt.wall)
		want, _ := time.Parse(time.RFC3339, tt.want)
		got := Instant(w, loc)
		if !got.Equal(want) {
			t.Errorf("Instant(%s in %s) = %s, want %s", tt.wall, tt.zone, got.UTC().Format(time.RFC3339), tt.want)
		}
		if back := Wall(got, loc); back.Before(w) { // after it only across a gap
			t.Errorf("Wall(Instant(%s in %s)) = %s", tt.wall, tt.zone, back.Format(time.RFC3339))
		}
	}
}
