package campaign

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func tp(s string) *time.Time {
	t := utc(s)
	return &t
}

// fires returns the first n fires of s after from, by NextAfter.
func fires(t *testing.T, s Schedule, from time.Time, n int) []time.Time {
	t.Helper()
	var out []time.Time
	for range n {
		next, ok, err := s.NextAfter(from)
		if err != nil {
			t.Fatalf("NextAfter(%+v, %s): %v", s, from, err)
		}
		if !ok {
			break
		}
		if !next.After(from) {
			t.Fatalf("NextAfter(%s) = %s, not after it", from, next)
		}
		out = append(out, next)
		from = next
	}
	return out
}

func TestNextAfterAcrossDST(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cron string
		tz   string
		from string
		want []string
	}{
		{
			name: "New York spring forward: 02:30 fires at 03:00 EDT",
			cron: "30 2 * * *", tz: "America/New_York", from: "2026-03-07T12:00:00-05:00",
			want: []string{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"},
		},
		{
			name: "New York spring forward: every 15 min collapses the gap into one fire",
			cron: "*/15 * * * *", tz: "America/New_York", from: "2026-03-08T01:40:00-05:00",
			want: []string{"2026-03-08T06:45:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:15:00Z"},
		},
		{
			name: "New York fall back: 01:30 fires once, at EDT",
			cron: "30 1 * * *", tz: "America/New_York", from: "2026-10-31T12:00:00-04:00",
			want: []string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
		},
		{
			name: "New York fall back: hourly skips the repeated hour",
			cron: "0 * * * *", tz: "America/New_York", from: "2026-11-01T00:30:00-04:00",
			want: []string{"2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"},
		},
		{
			name: "New York fall back: asked from inside the repeated hour",
			cron: "15 * * * *", tz: "America/New_York", from: "2026-11-01T01:05:00-05:00",
			want: []string{"2026-11-01T07:15:00Z"},
		},
		{
			name: "New York: CRON_TZ prefix and seconds field",
			cron: "CRON_TZ=America/New_York 10 30 2 * * *", from: "2026-03-07T12:00:00-05:00",
			want: []string{"2026-03-08T07:00:00Z", "2026-03-09T06:30:10Z"},
		},
		{
			name: "Berlin spring forward: 02:30 fires at 03:00 CEST",
			cron: "30 2 * * *", tz: "Europe/Berlin", from: "2026-03-28T12:00:00+01:00",
			want: []string{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
		},
		{
			name: "Berlin fall back: 02:30 fires once, at CEST",
			cron: "30 2 * * *", tz: "Europe/Berlin", from: "2026-10-24T12:00:00+02:00",
			want: []string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		},
		{
			name: "Berlin fall back: @hourly skips the repeated hour",
			cron: "@hourly", tz: "Europe/Berlin", from: "2026-10-25T01:30:00+02:00",
			want: []string{"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z"},
		},
		{
			name: "Sydney fall back (April): 02:30 fires once, at AEDT",
			cron: "30 2 * * *", tz: "Australia/Sydney", from: "2026-04-04T12:00:00+11:00",
			want: []string{"2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"},
		},
		{
			name: "Sydney spring forward (October): 02:30 fires at 03:00 AEDT",
			cron: "30 2 * * *", tz: "Australia/Sydney", from: "2026-10-03T12:00:00+10:00",
			want: []string{"2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z"},
		},
		{
			name: "Sydney: @daily on the fall-back day",
			cron: "CRON_TZ=Australia/Sydney @daily", from: "2026-04-04T12:00:00+11:00",
			want: []string{"2026-04-04T13:00:00Z", "2026-04-05T14:00:00Z"},
		},
		{
			name: "@every is a duration, untouched by DST",
			cron: "@every 90m", tz: "America/New_York", from: "2026-11-01T05:00:00Z",
			want: []string{"2026-11-01T06:30:00Z", "2026-11-01T08:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Schedule{Cron: tt.cron, Timezone: tt.tz}
			var want []time.Time
			for _, w := range tt.want {
				want = append(want, utc(w))
			}
			if diff := cmp.Diff(want, fires(t, s, utc(tt.from), len(want))); diff != "" {
				t.Errorf("fires (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNextAfterDSTIsEveryDay checks a whole year of a daily cron in each zone:
// exactly one fire per local day, every one at the wall-clock time asked for
// except on the day the clocks jump over it.
func TestNextAfterDSTIsEveryDay(t *testing.T) {
	t.Parallel()
	for _, tz := range []string{"America/New_York", "Europe/Berlin", "Australia/Sydney"} {
		for _, hhmm := range [][2]int{{1, 30}, {2, 30}, {2, 0}, {9, 0}} {
			loc, _ := time.LoadLocation(tz)
			s := Schedule{Cron: time.Date(2026, 1, 1, hhmm[0], hhmm[1], 0, 0, time.UTC).Format("4 15 * * *"), Timezone: tz}
			got := fires(t, s, time.Date(2025, 12, 31, 12, 0, 0, 0, loc), 365)
			days := map[string]bool{}
			jumped := 0
			for _, f := range got {
				l := f.In(loc)
				day := l.Format("2006-01-02")
				if days[day] {
					t.Errorf("%s %v: two fires on %s", tz, hhmm, day)
				}
				days[day] = true
				if l.Hour() != hhmm[0] || l.Minute() != hhmm[1] {
					jumped++
					if _, end := f.Add(-time.Nanosecond).In(loc).ZoneBounds(); !end.Equal(f) {
						t.Errorf("%s %v: fire %s is neither the wall-clock time nor a DST jump", tz, hhmm, l)
					}
				}
			}
			if len(days) != 365 {
				t.Errorf("%s %v: %d distinct days, want 365", tz, hhmm, len(days))
			}
			wantJumped := 0
			if hhmm[0] == 2 {
				wantJumped = 1 // 02:00-02:59 is skipped once a year in all three zones
			}
			if jumped != wantJumped {
				t.Errorf("%s %v: %d fires moved by a DST jump, want %d", tz, hhmm, jumped, wantJumped)
			}
		}
	}
}

// TestRobfigAloneGetsDSTWrong documents why NextAfter maps wall-clock times
// itself: robfig/cron's own Next skips the spring-forward day and fires twice
// on the fall-back day.
func TestRobfigAloneGetsDSTWrong(t *testing.T) {
	t.Parallel()
	sched, loc, err := ParseCron("30 1 * * *", "America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	first := sched.Next(utc("2026-11-01T00:00:00-04:00").In(loc))
	second := sched.Next(first)
	if first.UTC() != utc("2026-11-01T05:30:00Z") || second.UTC() != utc("2026-11-01T06:30:00Z") {
		t.Errorf("robfig fall back: %s, %s; expected it to fire twice on 2026-11-01", first.UTC(), second.UTC())
	}
	sched, loc, _ = ParseCron("30 2 * * *", "America/New_York")
	if got := sched.Next(utc("2026-03-07T12:00:00-05:00").In(loc)).UTC(); got != utc("2026-03-09T06:30:00Z") {
		t.Errorf("robfig spring forward: %s; expected it to skip 2026-03-08", got)
	}
}

func TestNextAfterWindowsAndOneOffs(t *testing.T) {
	t.Parallel()
	at := utc("2026-12-01T01:00:00Z")
	tests := []struct {
		name   string
		s      Schedule
		from   time.Time
		want   time.Time
		wantOK bool
	}{
		{"at in the future", Schedule{At: &at}, at.Add(-time.Second), at, true},
		{"at reached", Schedule{At: &at}, at, time.Time{}, false},
		{"now never fires again", Schedule{Now: true}, at, time.Time{}, false},
		{"start moves the first fire", Schedule{Cron: "0 9 * * *", Start: tp("2026-12-05T09:00:00Z")},
			utc("2026-12-01T00:00:00Z"), utc("2026-12-05T09:00:00Z"), true},
		{"end excludes its own instant", Schedule{Cron: "0 9 * * *", End: tp("2026-12-02T09:00:00Z")},
			utc("2026-12-01T09:00:00Z"), time.Time{}, false},
		{"before end", Schedule{Cron: "0 9 * * *", End: tp("2026-12-02T09:00:01Z")},
			utc("2026-12-01T09:00:00Z"), utc("2026-12-02T09:00:00Z"), true},
	}
	for _, tt := range tests {
		got, ok, err := tt.s.NextAfter(tt.from)
		if err != nil || ok != tt.wantOK || !got.Equal(tt.want) {
			t.Errorf("%s: NextAfter = %s, %v, %v; want %s, %v", tt.name, got, ok, err, tt.want, tt.wantOK)
		}
	}
	if _, _, err := (Schedule{Cron: "61 * * * *"}).NextAfter(at); err == nil {
		t.Error("bad cron accepted")
	}
}

func TestFirstFire(t *testing.T) {
	t.Parallel()
	now := utc("2026-03-07T17:00:00Z")
	at := utc("2026-12-01T01:00:00Z")
	tests := []struct {
		name   string
		s      Schedule
		want   time.Time
		wantOK bool
	}{
		{"now fires at creation", Schedule{Now: true}, now, true},
		{"at fires at its instant", Schedule{At: &at}, at, true},
		{"cron before spring forward fires at the jump", Schedule{Cron: "30 2 * * *", Timezone: "America/New_York"},
			utc("2026-03-08T07:00:00Z"), true},
		{"cron from its start", Schedule{Cron: "0 9 * * *", Start: tp("2026-04-01T09:00:00Z")}, utc("2026-04-01T09:00:00Z"), true},
		{"cron ended before its first fire", Schedule{Cron: "0 9 * * *", End: tp("2026-03-08T09:00:00Z")}, time.Time{}, false},
		{"cron that never fires", Schedule{Cron: "0 0 30 2 *"}, time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok, err := tt.s.FirstFire(now)
		if err != nil || ok != tt.wantOK || !got.Equal(tt.want) {
			t.Errorf("%s: FirstFire = %s, %v, %v; want %s, %v", tt.name, got, ok, err, tt.want, tt.wantOK)
		}
	}
}

// TestLatestFire: the occurrence a late claim considers is the latest at or
// before now, found without walking every missed one.
func TestLatestFire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		s         Schedule
		due, now  time.Time
		want      time.Time
		wantError bool
	}{
		{"claimed ahead: due itself", Schedule{Cron: "0 * * * *"}, utc("2026-12-01T10:00:00Z"), utc("2026-12-01T09:59:59Z"),
			utc("2026-12-01T10:00:00Z"), false},
		{"on time", Schedule{Cron: "0 * * * *"}, utc("2026-12-01T10:00:00Z"), utc("2026-12-01T10:00:00Z"), utc("2026-12-01T10:00:00Z"), false},
		{"down five and a half hours", Schedule{Cron: "0 * * * *"}, utc("2026-12-01T10:00:00Z"), utc("2026-12-01T15:30:00Z"),
			utc("2026-12-01T15:00:00Z"), false},
		{"a per-second cron down for a year", Schedule{Cron: "* * * * * *"}, utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00.5Z"),
			utc("2027-01-01T00:00:00Z"), false},
		{"across the fall-back hour, first occurrence only", Schedule{Cron: "30 1 * * *", Timezone: "America/New_York"},
			utc("2026-10-31T05:30:00Z"), utc("2026-11-01T07:00:00Z"), utc("2026-11-01T05:30:00Z"), false},
		{"up to the end", Schedule{Cron: "0 9 * * *", End: tp("2026-12-03T09:00:00Z")}, utc("2026-12-01T09:00:00Z"), utc("2026-12-10T00:00:00Z"),
			utc("2026-12-02T09:00:00Z"), false},
		{"one-off: due", Schedule{At: tp("2026-12-01T09:00:00Z")}, utc("2026-12-01T09:00:00Z"), utc("2026-12-09T00:00:00Z"),
			utc("2026-12-01T09:00:00Z"), false},
		{"bad cron", Schedule{Cron: "61 * * * *"}, utc("2026-12-01T09:00:00Z"), utc("2026-12-09T00:00:00Z"), time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := tt.s.LatestFire(tt.due, tt.now)
		if (err != nil) != tt.wantError || !got.Equal(tt.want) {
			t.Errorf("%s: LatestFire = %s, %v; want %s, error %v", tt.name, got, err, tt.want, tt.wantError)
		}
	}
}

// A refused cron spec names the field robfig refused ("end of range (61)
// above maximum (23): 61" alone does not say it is the hour); an operator
// walkthrough found the bare message.
func TestCronErrorNamesTheField(t *testing.T) {
	for spec, field := range map[string]string{
		"0 61 * * *":                 "hour field",
		"61 * * * *":                 "minute field",
		"0 9 * 13 *":                 "month field",
		"CRON_TZ=UTC 0 9 * * MONDAY": "day-of-week field",
		"0 0 9 32 * *":               "day-of-month field",
	} {
		_, _, err := ParseCron(spec, "")
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("ParseCron(%q) = %v, want it to name the %s", spec, err, field)
		}
	}
}
