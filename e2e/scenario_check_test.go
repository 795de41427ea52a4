//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// TestScenarioIsSound checks the generator without any process: every
// campaign file is valid, the schedule read back from the file fires as
// the spec says, every size and schedule kind is represented, and the
// wide apps' quotas leave room for every send within a day (the fixed ones
// make sends wait on purpose: TestScenarioDayWindowsBind).
func TestScenarioIsSound(t *testing.T) {
	t.Run("oracle", testFireOracle)
	for name, sz := range sizes {
		for _, seed := range []uint64{42, 1, 2, 3, 4, 5, 6, 7} {
			t.Run(fmt.Sprintf("%s/seed%d", name, seed), func(t *testing.T) { scenarioIsSound(t, seed, sz) })
		}
	}
}

func scenarioIsSound(t *testing.T, seed uint64, sz size) {
	t.Helper()
	sc := newScenario(t, rand.New(rand.NewPCG(seed, 1)), sz.campaigns, t0, sz.horizon)
	var names []string
	for _, a := range sc.apps {
		names = append(names, a.Name)
	}
	kinds := map[string]int{}
	userID := 0
	for _, cs := range sc.campaigns {
		f, err := cs.file()
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := campaign.ParseFile(f, campaign.ValidateOptions{Now: t0, Apps: names})
		if err != nil {
			t.Fatalf("campaign %s (%s): %v", cs.Name, describeSchedule(cs), err)
		}
		fires, err := expectedFires(parsed.Schedule, t0, sc.end)
		if err != nil {
			t.Fatal(err)
		}
		// The whole list, not just its length and first fire: the
		// expectation (the oracle's) must be what tagcast's
		// calculator reads from the file.
		if !sameTimes(fires, cs.Fires) {
			t.Errorf("campaign %s (%s): the file's schedule fires at %v, the oracle at %v",
				cs.Name, describeSchedule(cs), fires, cs.Fires)
		}
		for _, f := range cs.Fires {
			if f.Before(t0) || !f.Before(sc.end) {
				t.Errorf("campaign %s fires at %v, outside [%v, %v)", cs.Name, f, t0, sc.end)
			}
		}
		kinds[cs.Schedule.Kind()]++
		if cs.UserIDs > 0 {
			userID++
			if cs.sendsPerRun() < 2 {
				t.Errorf("campaign %s: %d user ids make %d sends, want at least 2", cs.Name, cs.UserIDs, cs.sendsPerRun())
			}
		}
	}
	if kinds["now"] == 0 || kinds["at"] == 0 || kinds["cron"] == 0 || userID == 0 {
		t.Errorf("schedule kinds %v and %d user-id campaigns: want every kind", kinds, userID)
	}
	if len(sc.campaigns) != sz.campaigns {
		t.Errorf("%d campaigns, want %d", len(sc.campaigns), sz.campaigns)
	}
	fires, sends := sc.totals()
	t.Logf("seed %d: %d campaigns %v, %d user-id; %d fires, %d sends; apps %+v", seed, len(sc.campaigns), kinds, userID, fires, sends, sc.apps)
}

func sameTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// testFireOracle pins the oracle on instants worked out by hand, and
// compares it with tagcast's calculator over every cron kind and several
// start windows (the e2e expectation is the oracle's).
func testFireOracle(t *testing.T) {
	ptr := func(t time.Time) *time.Time { return &t }
	day := t0.Add(24 * time.Hour)
	for _, tt := range []struct {
		s    campaign.Schedule
		want []time.Time
	}{
		// 02:30 New York does not exist on 2026-03-08: the jump, 03:00 EDT.
		{campaign.Schedule{Cron: "CRON_TZ=America/New_York 30 2 * * *", End: ptr(day)},
			[]time.Time{time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)}},
		// 08:00 Tokyo on Sunday 2026-03-08 (t0 is Sunday 00:00 there).
		{campaign.Schedule{Cron: "0 8 * * SAT,SUN", Timezone: "Asia/Tokyo", End: ptr(day)},
			[]time.Time{time.Date(2026, 3, 7, 23, 0, 0, 0, time.UTC)}},
		{campaign.Schedule{Cron: "15 9,13,21 * * *", Timezone: "Asia/Shanghai", End: ptr(day)},
			[]time.Time{time.Date(2026, 3, 8, 1, 15, 0, 0, time.UTC), time.Date(2026, 3, 8, 5, 15, 0, 0, time.UTC), time.Date(2026, 3, 8, 13, 15, 0, 0, time.UTC)}},
		{campaign.Schedule{Cron: "@every 5h", End: ptr(day)},
			[]time.Time{t0.Add(5 * time.Hour), t0.Add(10 * time.Hour), t0.Add(15 * time.Hour), t0.Add(20 * time.Hour)}},
	} {
		got, err := oracleFires(tt.s, t0, day)
		if err != nil || !sameTimes(got, tt.want) {
			t.Errorf("oracle %q in %q: %v %v, want %v", tt.s.Cron, tt.s.Timezone, got, err, tt.want)
		}
	}
	for _, k := range cronKinds {
		for _, from := range []time.Duration{0, time.Minute, 7 * time.Hour, 16*time.Hour + 13*time.Minute} {
			s := campaign.Schedule{Cron: k.spec, Timezone: k.tz, End: ptr(day)}
			if k.window > 0 {
				s.Start, s.End = ptr(t0.Add(from)), ptr(t0.Add(from+k.window))
			} else if from != 0 {
				continue
			}
			got, err := oracleFires(s, t0, day)
			if err != nil {
				t.Fatal(err)
			}
			want, err := expectedFires(s, t0, day)
			if err != nil {
				t.Fatal(err)
			}
			if !sameTimes(got, want) {
				t.Errorf("cron %q in %q from %s: oracle %v, tagcast %v", k.spec, k.tz, from, got, want)
			}
		}
	}
}

// TestScenarioDayWindowsBind guards the day windows' part in the e2e: in
// every size and seed, an app's calendar day (in a zone other than UTC)
// and an app's rolling day each hold fewer sends than are due in them, so
// sends must wait for the day window; the calendar one across the Shanghai
// midnight an hour after t0. With every day limit above its load, a guard
// that ignored the day window, or counted it in the wrong zone or of the
// wrong kind, passed: the emulator never came near a daily limit.
func TestScenarioDayWindowsBind(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	midnight := time.Date(2026, 3, 8, 0, 0, 0, 0, shanghai)
	if !midnight.Equal(t0.Add(time.Hour)) {
		t.Fatalf("t0 %s is no longer an hour before the Shanghai midnight", t0)
	}
	for name, sz := range sizes {
		for _, seed := range []uint64{42, 1, 2, 3} {
			sc := newScenario(t, rand.New(rand.NewPCG(seed, 1)), sz.campaigns, t0, sz.horizon)
			demand := map[string][]time.Time{}
			for _, cs := range sc.campaigns {
				for _, f := range cs.Fires {
					for range cs.sendsPerRun() {
						demand[cs.App] = append(demand[cs.App], f)
					}
				}
			}
			calendar, rolling := false, false
			for _, a := range sc.apps {
				at := demand[a.Name]
				sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
				loc, err := time.LoadLocation(a.Timezone)
				if err != nil {
					t.Fatal(err)
				}
				if a.DayWindow == "rolling" {
					for i := range at {
						j := sort.Search(len(at), func(j int) bool { return !at[j].Before(at[i].Add(24 * time.Hour)) })
						rolling = rolling || j-i > a.Daily
					}
					continue
				}
				perDay := map[string]int{}
				beforeMidnight := 0
				for _, x := range at {
					perDay[x.In(loc).Format(time.DateOnly)]++
					if x.Before(midnight) {
						beforeMidnight++
					}
				}
				for _, n := range perDay {
					// binding in a zone other than UTC, and (in Shanghai)
					// across the midnight after t0
					if n > a.Daily && loc.String() != "UTC" && (a.Timezone != "Asia/Shanghai" || beforeMidnight > a.Daily) {
						calendar = true
					}
				}
			}
			if !calendar || !rolling {
				t.Errorf("%s seed %d: a calendar day window binds: %v, a rolling one: %v (apps %v): a guard that ignores or mis-zones the day window passes",
					name, seed, calendar, rolling, sc.apps)
			}
		}
	}
}
