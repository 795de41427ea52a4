//go:build e2e

package e2e

import (
	"math/rand/v2"
	"testing"

	"github.com/tagcast/tagcast/campaign"
)

// TestScenarioIsSound checks the generator without any process: every
// campaign file is valid, the schedule read back from the file fires as
// the spec says, every size and schedule kind is represented, and the
// quotas leave room for every send within a day.
func TestScenarioIsSound(t *testing.T) {
	for name, sz := range sizes {
		t.Run(name, func(t *testing.T) {
			sc := newScenario(t, rand.New(rand.NewPCG(42, 1)), sz.campaigns, t0, sz.horizon)
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
				if len(fires) != len(cs.Fires) || !fires[0].Equal(cs.Fires[0]) {
					t.Errorf("campaign %s: the file's schedule fires %d times from %v, the spec %d times from %v",
						cs.Name, len(fires), fires[0], len(cs.Fires), cs.Fires[0])
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
			t.Logf("%d campaigns %v, %d user-id; %d fires, %d sends; apps %+v", len(sc.campaigns), kinds, userID, fires, sends, sc.apps)
		})
	}
}
