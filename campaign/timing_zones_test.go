package campaign

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestTimingNextAfterOddZones pins the DST rules (first occurrence on fall
// back, the jump on spring forward) in zones the other tests leave out:
// London's 01:00 changes, a 30-minute DST shift (Lord Howe), a -03:30 zone
// (St John's), zones without DST at +08:00 and +05:45, and leap days.
// Every expectation was checked against a minute-by-minute brute force.
func TestTimingNextAfterOddZones(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cron, tz, from string
		want                 []string
	}{
		{"London spring forward: 01:30 fires at 02:00 BST", "30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"London fall back: 01:30 fires once, at BST", "30 1 * * *", "Europe/London", "2026-10-24T12:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"London: 02:30 exists on both change days", "30 2 * * *", "Europe/London", "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T01:30:00Z", "2026-03-30T01:30:00Z"}},
		{"Lord Howe spring forward (30 min): 02:00 and 02:15 collapse into 02:30", "*/15 * * * *", "Australia/Lord_Howe", "2026-10-04T01:30:00+10:30",
			[]string{"2026-10-03T15:15:00Z", "2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z"}},
		{"Lord Howe fall back (30 min): the repeated 01:30 and 01:45 fire once", "*/15 * * * *", "Australia/Lord_Howe", "2026-04-05T01:00:00+11:00",
			[]string{"2026-04-04T14:15:00Z", "2026-04-04T14:30:00Z", "2026-04-04T14:45:00Z", "2026-04-04T15:30:00Z"}},
		{"St John's spring forward (-03:30)", "*/30 * * * *", "America/St_Johns", "2026-03-08T01:00:00-03:30",
			[]string{"2026-03-08T05:00:00Z", "2026-03-08T05:30:00Z", "2026-03-08T06:00:00Z"}},
		{"St John's fall back (-02:30 to -03:30)", "*/30 * * * *", "America/St_Johns", "2026-11-01T01:00:00-02:30",
			[]string{"2026-11-01T04:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z"}},
		{"Shanghai has no DST: 02:30 every day", "30 2 * * *", "Asia/Shanghai", "2026-10-31T12:00:00Z",
			[]string{"2026-10-31T18:30:00Z", "2026-11-01T18:30:00Z"}},
		{"Kathmandu +05:45", "0 9 * * *", "Asia/Kathmandu", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T03:15:00Z", "2026-11-02T03:15:00Z"}},
		{"leap day, every four years", "0 9 29 2 *", "Asia/Shanghai", "2026-10-31T12:00:00Z",
			[]string{"2028-02-29T01:00:00Z", "2032-02-29T01:00:00Z"}},
		{"New York 2099: the rules hold past 2037", "30 2 * * *", "America/New_York", "2099-03-07T12:00:00Z",
			[]string{"2099-03-08T07:00:00Z", "2099-03-09T06:30:00Z"}},
	}
	for _, tt := range tests {
		from, err := time.Parse(time.RFC3339, tt.from)
		if err != nil {
			t.Fatal(err)
		}
		var want []time.Time
		for _, w := range tt.want {
			want = append(want, utc(w))
		}
		if diff := cmp.Diff(want, fires(t, Schedule{Cron: tt.cron, Timezone: tt.tz}, from, len(want))); diff != "" {
			t.Errorf("%s: fires (-want +got):\n%s", tt.name, diff)
		}
	}
}
