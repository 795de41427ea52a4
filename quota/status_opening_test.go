package quota

import (
	"context"
	"testing"
	"time"
)

// Status (what `tagcast quota status` prints as "next send possible") says
// the clock hour opens at its boundary, but a push reserved within the
// margin before the boundary counts in the next hour too (fixedWindow), so
// at that instant Reserve still finds no room: the operator is told 11:00
// and nothing can go out before 12:00. Status.NextOpening's doc: "when a
// Reserve can succeed".
func TestQuotaStatusNextOpeningOfAClockHourIsWhenAReserveSucceeds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := Policy{Hourly: 1, Daily: 10, HourWindow: HourClock, DayWindow: DayCalendar, Timezone: "Asia/Shanghai"}
	b := setup(t, map[string]Policy{"main": p}, 10*time.Second, at(t, "2026-06-01T10:59:55+08:00"))
	b.mustReserve(t, "main")

	b.clock.Set(at(t, "2026-06-01T10:59:58+08:00"))
	st, err := b.guard.Status(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Set(st.NextOpening)
	if _, nr := b.reserve(t, "main"); nr != nil {
		t.Fatalf("quota status said the next send is possible at %s (hour window opens %s); at that instant Reserve answers no room until %s",
			st.NextOpening.Format(time.RFC3339), st.Hour.NextOpening.Format(time.RFC3339), nr.OpensAt.Format(time.RFC3339))
	}
}
