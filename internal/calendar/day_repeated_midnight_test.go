package calendar

import (
	"testing"
	"time"
)

// TestDayWhoseMidnightRepeats guards Day where clocks fall back from 01:00
// to 00:00 (Asia/Amman until 2022, Asia/Jerusalem until 2005,
// Antarctica/Vostok from 02:00 on 2023-12-18, ...): local midnight happens
// twice, and the day begins at the first of them. For zones east of UTC
// time.Date picks the second one, and dayStart took it: Day returned a day
// that does not hold t (t in the first 00:xx hour), and the day before ran
// an hour into the next date, so the quota guard's calendar-day window
// (and the emulator's) missed the sends of that hour and let the day go
// over its quota. The day's start is calendar.Instant of its midnight, as
// a cron's fire at 00:00 is.
func TestDayWhoseMidnightRepeats(t *testing.T) {
	t.Parallel()
	amman, err := time.LoadLocation("Asia/Amman")
	if err != nil {
		t.Fatal(err)
	}
	// 2021-10-29 01:00 EEST (+03, 22:00Z) went back to 00:00 EET (+02):
	// Friday 00:00-00:59 local happened at 21:00Z-22:00Z and again at
	// 22:00Z-23:00Z. Friday began at 21:00Z (00:00 +03).
	fridayStart := time.Date(2021, 10, 28, 21, 0, 0, 0, time.UTC)
	saturdayStart := time.Date(2021, 10, 29, 22, 0, 0, 0, time.UTC) // 00:00 +02
	for _, at := range []time.Time{
		fridayStart,                       // 00:00 +03, the first midnight
		fridayStart.Add(30 * time.Minute), // 00:30 +03
		fridayStart.Add(90 * time.Minute), // 00:30 +02, the repeat
		fridayStart.Add(12 * time.Hour),
	} {
		start, next := Day(at, amman)
		if at.Before(start) || !at.Before(next) {
			t.Errorf("Day(%s = %s) = [%s, %s): does not hold it", at.Format(time.RFC3339), at.In(amman).Format(time.RFC3339),
				start.In(amman).Format(time.RFC3339), next.In(amman).Format(time.RFC3339))
		}
		if !start.Equal(fridayStart) || !next.Equal(saturdayStart) {
			t.Errorf("Day(%s) = [%s, %s), want [%s, %s) (a 25-hour day from the first midnight)", at.Format(time.RFC3339),
				start.UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339), fridayStart.Format(time.RFC3339), saturdayStart.Format(time.RFC3339))
		}
	}
	// Thursday ends where Friday begins, not an hour into Friday.
	if _, next := Day(time.Date(2021, 10, 28, 9, 0, 0, 0, time.UTC), amman); !next.Equal(fridayStart) {
		t.Errorf("Thursday 2021-10-28 ends at %s, want %s (Friday's first midnight)", next.UTC().Format(time.RFC3339), fridayStart.Format(time.RFC3339))
	}
}
