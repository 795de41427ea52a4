//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi/emulator"
)

// TestChecksCatchProblems feeds the pure checks situations they must
// report, so a green end-to-end run means something.
func TestChecksCatchProblems(t *testing.T) {
	at := t0.Add(time.Hour)
	cron := campaignSpec{Name: "c", Schedule: campaign.Schedule{Cron: "@hourly"},
		Fires: []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)}}
	sc := &scenario{start: t0, end: t0.Add(3 * time.Hour), campaigns: []campaignSpec{cron}}
	ids := map[string]int64{"c": 7}
	for _, tt := range []struct {
		name string
		runs []runRow
		want []string
	}{
		{"all there", []runRow{{1, 7, at, "done"}, {2, 7, at.Add(time.Hour), "done"}}, nil},
		{"lost fire", []runRow{{1, 7, at, "done"}}, []string{"LOST: campaign c (id 7, cron \"@hourly\") fire at 2026-03-07T17:00:00Z has no run"}},
		{"unsettled", []runRow{{1, 7, at, "done"}, {2, 7, at.Add(time.Hour), "running"}}, []string{"LOST: campaign c (id 7) run 2 for 2026-03-07T17:00:00Z never settled: running"}},
		{"extra fire", []runRow{{1, 7, at, "done"}, {2, 7, at.Add(time.Hour), "done"}, {3, 7, at.Add(90 * time.Minute), "done"}},
			[]string{"UNEXPECTED FIRE: campaign c (id 7, cron \"@hourly\") run 3 for 2026-03-07T17:30:00Z is not one of its 2 due fires"}},
		{"stranger", []runRow{{1, 7, at, "done"}, {2, 7, at.Add(time.Hour), "done"}, {3, 9, at, "done"}},
			[]string{"UNEXPECTED FIRE: run 3 of campaign 9, which the test never created"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p problems
			checkFires(&p, sc, ids, tt.runs)
			if strings.Join(p.list, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(p.list, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}

	killed := func(s sendRow) bool { return s.ID == 5 } // send 5 was in flight in a killed worker
	for _, tt := range []struct {
		name   string
		answer string
		s      sendRow
		want   string // a prefix of the problem; "" for none
	}{
		{"answered and recorded", "ok", sendRow{ID: 4, Status: "sent", MessageUID: "U1"}, ""},
		{"answered, recorded with another uid", "ok", sendRow{ID: 4, Status: "sent", MessageUID: "U2"}, "MESSAGEUID NOT RECORDED"},
		{"answered, left unknown", "ok", sendRow{ID: 4, Status: "unknown"}, "MESSAGEUID NOT RECORDED"},
		{"answered to a killed worker", "ok", sendRow{ID: 5, Status: "unknown"}, ""},
		{"answered to a killed worker, failed", "ok", sendRow{ID: 5, Status: "failed"}, "MESSAGEUID NOT RECORDED"},
		{"answer dropped, unknown", "stall_sent", sendRow{ID: 4, Status: "unknown"}, ""},
		{"answer dropped, sent", "stall_sent", sendRow{ID: 4, Status: "sent", MessageUID: "U1"}, "IMPOSSIBLE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := judgePush("k", emulator.Push{Answer: tt.answer, MessageUID: "U1"}, tt.s, killed)
			if (tt.want == "") != (got == "") || !strings.HasPrefix(got, tt.want) {
				t.Errorf("judgePush = %q, want a problem starting %q", got, tt.want)
			}
		})
	}

	a := appSpec{Name: "x", Hourly: 2, Daily: 3}
	bucket := func(t time.Time) string { return t.Format("2006-01-02 15h") }
	for _, tt := range []struct {
		name    string
		rolling bool
		at      []time.Time
		want    int
	}{
		{"rolling within", true, []time.Time{t0, t0.Add(59 * time.Minute), t0.Add(time.Hour)}, 0},
		{"rolling over", true, []time.Time{t0, t0.Add(30 * time.Minute), t0.Add(59 * time.Minute)}, 1},
		{"fixed within", false, []time.Time{t0.Add(30 * time.Minute), t0.Add(59 * time.Minute), t0.Add(61 * time.Minute)}, 0},
		{"fixed over", false, []time.Time{t0, t0.Add(30 * time.Minute), t0.Add(59 * time.Minute)}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p problems
			window(&p, a, "hour", a.Hourly, tt.rolling, time.Hour, tt.at, bucket)
			if len(p.list) != tt.want {
				t.Errorf("%d problems %v, want %d", len(p.list), p.list, tt.want)
			}
		})
	}
}

func TestCheckClaimants(t *testing.T) {
	sends := []sendRow{
		{ID: 1, Attempts: 1, ClaimedBy: "worker-host:4242"},
		{ID: 2, Attempts: 0},                       // never claimed: nothing to name
		{ID: 3, Attempts: 2},                       // attempted, no claimant
		{ID: 4, Attempts: 1, ClaimedBy: "host:"},   // no pid
		{ID: 5, Attempts: 1, ClaimedBy: "host:x1"}, // not a pid
	}
	var p problems
	checkClaimants(&p, sends)
	if len(p.list) != 3 {
		t.Fatalf("%d problems, want 3 (sends 3, 4, 5): %v", len(p.list), p.list)
	}
	for i, id := range []string{"send 3 ", "send 4 ", "send 5 "} {
		if !strings.Contains(p.list[i], id) {
			t.Errorf("problem %d = %q, want it about %s", i, p.list[i], id)
		}
	}
}
