package quota

import (
	"testing"
	"time"

	"github.com/tagcast/tagcast/internal/calendar"
)

// Antarctica/Casey fell back three hours across midnight every March from
// 2018 to 2023 (2023-03-09 03:00 +11 to 00:00 +08): midnight repeated and,
// as calendar.Day documents and handles, that calendar day lasted 27 hours
// (from 00:00 +11 to the next 00:00 +08). The guard keeps, trims at, and
// rebuilds from longestDay+margin of reservations: 48 h now. Was: 26 h,
// and in such a day's last hour its first sends were trimmed while its
// calendar window still counted them: a 4th push was granted in a day of
// 3 (found by a review; latent in today's tzdata, live with any future
// fall-back of 3 hours or more over midnight).
func TestWindowsCasey27HourDayKeepsItsFirstSends(t *testing.T) {
	t.Parallel()
	casey := mustLoad(t, "Antarctica/Casey")
	start, next := calendar.Day(time.Date(2023, 3, 9, 12, 0, 0, 0, casey), casey)
	if d := next.Sub(start); d != 27*time.Hour {
		t.Fatalf("tzdata: Casey's 2023-03-09 is %s long, want 27h (00:00 +11 to 00:00 +08 next day)", d)
	}
	p := Policy{Hourly: 10, Daily: 3, HourWindow: HourRolling, DayWindow: DayCalendar, Timezone: "Antarctica/Casey"}
	b := setup(t, map[string]Policy{"main": p}, 0 /* DefaultMargin */, start) // 2023-03-09T00:00+11
	for i := range 3 {
		b.clock.Set(start.Add(time.Duration(i) * 30 * time.Minute)) // 00:00, 00:30, 01:00 +11
		r := b.mustReserve(t, "main")
		b.ledger.add("main", r.At)
	}
	b.clock.Set(start.Add(2 * time.Hour))
	if nr := b.mustBeFull(t, "main"); nr.By != ConstraintDay || !nr.OpensAt.Equal(next) {
		t.Fatalf("three in the day: no room by %s until %s, want day until %s", nr.By, nr.OpensAt.In(casey), next.In(casey))
	}
	b.clock.Set(next.Add(-30 * time.Minute)) // 2023-03-09T23:30+08, still the 9th
	if res, nr := b.reserve(t, "main"); nr == nil {
		t.Fatalf("at %s (the 27-hour day of %s) a 4th push was granted in a calendar day of 3 (guard counted %d): the day's first sends, %s before, were trimmed",
			b.clock.Now().In(casey).Format(time.RFC3339), start.In(casey).Format(time.DateOnly), res.DayUsed, b.clock.Now().Sub(start))
	}
}
