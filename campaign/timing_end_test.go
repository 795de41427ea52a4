package campaign

import "testing"

// TestTimingLatestFireLongPastTheEnd: a dense cron whose end passed long
// before the scheduler (or a resume) looks at it again. Fires are strictly
// before the end, so the latest is the last one before the end; LatestFire
// must find it without walking every occurrence from due (which gives up
// after maxCatchUpSteps and leaves the campaign refused on every tick).
func TestTimingLatestFireLongPastTheEnd(t *testing.T) {
	t.Parallel()
	s := Schedule{Cron: "* * * * * *", End: tp("2026-02-15T00:00:00Z")}
	got, err := s.LatestFire(utc("2026-01-01T00:00:00Z"), utc("2027-06-01T00:00:00Z"))
	if err != nil || !got.Equal(utc("2026-02-14T23:59:59Z")) {
		t.Errorf("LatestFire = %s, %v; want 2026-02-14T23:59:59Z", got, err)
	}
}
