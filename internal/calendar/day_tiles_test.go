package calendar

import (
	"testing"
	"time"
)

// awkwardZones change their clocks at or across midnight, by half an hour
// or by two or three hours, skip a whole date, or keep their rules east or
// west of UTC (where time.Date picks the second or the first of a repeated
// time); Berlin and New York are the usual case.
var awkwardZones = []string{
	"Asia/Amman", "Asia/Gaza", "Asia/Jerusalem", "Asia/Beirut", "Asia/Tehran", "Asia/Damascus", "Asia/Dhaka",
	"Asia/Colombo", "Asia/Magadan", "Africa/Cairo", "Africa/Casablanca", "Europe/Dublin", "Europe/Lisbon",
	"Atlantic/Azores", "America/Scoresbysund", "America/Havana", "America/Santiago", "America/Asuncion",
	"America/Sao_Paulo", "America/Goose_Bay", "America/Moncton", "America/St_Johns", "Antarctica/Casey",
	"Antarctica/Davis", "Antarctica/Vostok", "Antarctica/Troll", "Australia/Lord_Howe", "Pacific/Apia",
	"Pacific/Kiritimati", "Pacific/Kwajalein", "Europe/Berlin", "America/New_York", "UTC",
}

// TestDayTilesTime: around every clock change from 1970 to 2040 in
// awkwardZones, Day(t) is exactly the run of instants whose local date is
// t's (it holds t, starts on that date after an earlier one, and ends where
// a later date begins), and consecutive days meet without a gap or an
// overlap. Changes after which the local date goes backwards are left out:
// no interval can be right there (see Day); the test logs them.
func TestDayTilesTime(t *testing.T) {
	t.Parallel()
	from, to := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range awkwardZones {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			loc, err := time.LoadLocation(name)
			if err != nil {
				t.Skip(err) // a system without this zone
			}
			changes, backwards := clockChanges(loc, from, to)
			for _, b := range backwards {
				t.Logf("the local date goes back at %s (%s -> %s): left out", b.UTC().Format(time.RFC3339),
					b.Add(-time.Nanosecond).In(loc).Format(time.RFC3339), b.In(loc).Format(time.RFC3339))
			}
			if name != "UTC" && len(changes) == 0 {
				t.Fatalf("no clock changes found in %s", name)
			}
			checked := 0
			for _, c := range changes {
				if near(c, backwards, 72*time.Hour) {
					continue
				}
				for at := c.Add(-36 * time.Hour); !at.After(c.Add(36 * time.Hour)); at = at.Add(time.Hour) {
					for _, t0 := range []time.Time{at, at.Add(-time.Nanosecond), c.Add(-time.Nanosecond), c} {
						checkDay(t, t0, loc)
						checked++
					}
				}
			}
			// And plain days.
			for at := from; at.Before(to); at = at.Add(240*time.Hour + 7*time.Minute) {
				if !near(at, backwards, 72*time.Hour) {
					checkDay(t, at, loc)
				}
			}
			t.Logf("%d clock changes, %d instants near them", len(changes), checked)
		})
	}
}

// checkDay checks Day(at) against the local dates of the instants at and
// around its ends, and that the days before and after meet it.
func checkDay(t *testing.T, at time.Time, loc *time.Location) {
	t.Helper()
	start, next := Day(at, loc)
	d := localDate(at, loc)
	show := func() string {
		return at.UTC().Format(time.RFC3339Nano) + " = " + at.In(loc).Format(time.RFC3339Nano) + ": Day = [" +
			start.In(loc).Format(time.RFC3339) + ", " + next.In(loc).Format(time.RFC3339) + ")"
	}
	switch {
	case at.Before(start) || !at.Before(next):
		t.Fatalf("%s does not hold it", show())
	case localDate(start, loc) != d || localDate(start.Add(-time.Nanosecond), loc) >= d:
		t.Fatalf("%s: its start is not the first instant of the date", show())
	case localDate(next.Add(-time.Nanosecond), loc) != d || localDate(next, loc) <= d:
		t.Fatalf("%s: its next is not the first instant after the date", show())
	}
	if _, prevNext := Day(start.Add(-time.Nanosecond), loc); !prevNext.Equal(start) {
		t.Fatalf("%s: the day before ends at %s", show(), prevNext.In(loc).Format(time.RFC3339))
	}
	if nextStart, _ := Day(next, loc); !nextStart.Equal(next) {
		t.Fatalf("%s: the day after starts at %s", show(), nextStart.In(loc).Format(time.RFC3339))
	}
}

// clockChanges lists the instants in [from, to) at which loc's offset
// changes, and those of them after which the local date is earlier than
// just before.
func clockChanges(loc *time.Location, from, to time.Time) (changes, backwards []time.Time) {
	for t := from; ; {
		_, end := t.In(loc).ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			return changes, backwards
		}
		if !end.After(t) {
			// Past a zone's last explicit transition Go's bounds can be
			// approximate (a year's end, even t itself in a leap year with
			// some zoneinfo data): step on by a day, or the walk stands still.
			t = t.Add(24 * time.Hour)
			continue
		}
		changes = append(changes, end)
		if localDate(end, loc) < localDate(end.Add(-time.Nanosecond), loc) {
			backwards = append(backwards, end)
		}
		t = end
	}
}

// localDate is t's local date in loc as yyyymmdd, which orders as dates do.
func localDate(t time.Time, loc *time.Location) int {
	y, m, d := t.In(loc).Date()
	return y*10000 + int(m)*100 + d
}

// near reports whether t is within d of one of ts.
func near(t time.Time, ts []time.Time, d time.Duration) bool {
	for _, x := range ts {
		if diff := t.Sub(x); diff > -d && diff < d {
			return true
		}
	}
	return false
}

// TestDayWhereTheDateGoesBack pins what Day's comment says of the zones
// whose local date once went backwards (America/Goose_Bay, 2010-11-07
// 00:00:59 -03 back to 2010-11-06 23:01 -04): each date's day runs from
// its first midnight to the next date's, so the repeated 23:01-23:59 of
// the 6th lies in the 7th's day, not in the one Day returns for it.
func TestDayWhereTheDateGoesBack(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("America/Goose_Bay")
	if err != nil {
		t.Skip(err)
	}
	seventh := time.Date(2010, 11, 7, 3, 0, 0, 0, time.UTC) // 00:00 -03, the first midnight
	for _, tt := range []struct {
		at          time.Time
		start, next time.Time
	}{
		{seventh.Add(-time.Hour), time.Date(2010, 11, 6, 3, 0, 0, 0, time.UTC), seventh},       // 23:00 -03 on the 6th
		{seventh.Add(30 * time.Second), seventh, time.Date(2010, 11, 8, 4, 0, 0, 0, time.UTC)}, // 00:00:30 -03 on the 7th
		{seventh.Add(30 * time.Minute), time.Date(2010, 11, 6, 3, 0, 0, 0, time.UTC), seventh}, // 23:30 -04 on the 6th again: not held
		{seventh.Add(90 * time.Minute), seventh, time.Date(2010, 11, 8, 4, 0, 0, 0, time.UTC)}, // 00:30 -04 on the 7th
	} {
		start, next := Day(tt.at, loc)
		if !start.Equal(tt.start) || !next.Equal(tt.next) {
			t.Errorf("Day(%s = %s) = [%s, %s), want [%s, %s)", tt.at.Format(time.RFC3339), tt.at.In(loc).Format(time.RFC3339),
				start.UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339), tt.start.Format(time.RFC3339), tt.next.Format(time.RFC3339))
		}
	}
}
