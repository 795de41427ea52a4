//go:build e2e

package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
)

// TestChecksCatchProblems feeds the pure checks situations they must
// report, so a green end-to-end run means something.
func TestChecksCatchProblems(t *testing.T) {
	t.Run("planted", testPlantedViolations)
	t.Run("quota modes", testQuotaEveryMode)
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
	// judgePush is given only the killed-worker excuse: an unanswered
	// earlier call of a send does not excuse losing an answered one's
	// messageUID (the call sites pass heldByKilled, never unknowable).
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
			window(&p, a, "pushes", "hour", a.Hourly, tt.rolling, time.Hour, tt.at, bucket)
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

// pushOf is an accepted push as the emulator records it.
func pushOf(appKey, alert string, userIDs []string, at time.Time, answer, uid string) emulator.Push {
	req := pushapi.Request{Platform: slices.Clone(campaignPlatform), Notification: &pushapi.Notification{Alert: alert}}
	if userIDs != nil {
		req.Audience.UserID = userIDs
	} else {
		req.Audience.Tag = []string{"all"}
	}
	return emulator.Push{AppKey: appKey, MessageUID: uid, ReceivedAt: at, Request: req, Answer: answer}
}

// sendOf is a store send with the key the checks derive from its body.
func sendOf(id int64, alert string, userIDs []string, status, uid, claimant string) sendRow {
	req := pushapi.Request{Notification: &pushapi.Notification{Alert: alert}}
	req.Audience.UserID = userIDs
	if userIDs == nil {
		req.Audience.Tag = []string{"all"}
	}
	return sendRow{ID: id, Status: status, MessageUID: uid, Attempts: 1, ClaimedBy: claimant, Alert: alert, UserIDs: userIDs,
		Audience: req.Audience, Key: sendKey(req)}
}

// resolveRecipients fills in, where a hand-made record has none, the
// recipients the emulator would resolve for each push (its documented
// rules over the users the cluster gives each app), after any planting.
func resolveRecipients(sc *scenario, rec *emuRecord) {
	for i := range rec.pushes {
		x := &rec.pushes[i]
		if x.Recipients != nil {
			continue
		}
		x.Recipients = []string{}
		a := x.Request.Audience
		for _, app := range sc.apps {
			if app.Key != x.AppKey {
				continue
			}
			switch {
			case a.IsToAll:
				x.Recipients = emuUserIDs(app)
			case len(a.UserID) > 0:
				x.Recipients = slices.Compact(slices.Clone(a.UserID))
			case len(a.Tag) > 0 || len(a.TagOr) > 0 || a.PackageName != "":
				for _, u := range emuUsers(app) {
					ok := a.PackageName == "" // the cluster's users have no package name
					for _, t := range a.Tag {
						ok = ok && slices.Contains(u.Tags, t)
					}
					if len(a.TagOr) > 0 {
						ok = ok && slices.ContainsFunc(a.TagOr, func(t string) bool { return slices.Contains(u.Tags, t) })
					}
					if ok {
						x.Recipients = append(x.Recipients, u.ID)
					}
				}
			}
		}
	}
}

// testPlantedViolations plants one violation of each claim in what
// checkEmulator, checkDeliveries and checkQuota read, and wants each
// reported (and nothing reported for the clean record).
func testPlantedViolations(t *testing.T) {
	sc, ids, _, _, fire := cleanRecordAt(time.Second)
	tagAlert, idAlert := alertFor(ids["c000"], fire), alertFor(ids["c001"], fire)
	all := userIDsOf(sc.campaigns[1])
	chunk2 := all[1000:]
	at := fire.Add(time.Second)
	// host:666 was killed holding send 1 (and, in the cases below, not
	// send 2, which it had claimed and left before).
	killedClaimant := "host:666"
	kills := newKillRecord()
	kills.add(killedClaimant, []int64{1})
	heldByKilled := kills.heldAtKill

	// clean: one push per send, every messageUID recorded.
	clean := func() (emuRecord, []sendRow) {
		_, _, rec, sends, _ := cleanRecordAt(time.Second)
		return rec, sends
	}
	for _, tt := range []struct {
		name  string
		plant func(rec *emuRecord, sends []sendRow) []sendRow
		want  []string // prefixes of the problems, in any order; nil: none
	}{
		{"clean", func(*emuRecord, []sendRow) []sendRow { return nil }, nil},
		{"same body pushed twice", func(rec *emuRecord, _ []sendRow) []sendRow {
			rec.pushes = append(rec.pushes, pushOf("ka", tagAlert, nil, at.Add(time.Minute), "ok", "U9"))
			return nil
		}, []string{"DUPLICATE PUSH", "DUPLICATE DELIVERY"}},
		{"overlapping chunks pushed", func(rec *emuRecord, sends []sendRow) []sendRow {
			// the store re-chunked the run: a second, overlapping chunk
			extra := sendOf(4, idAlert, all[500:1500], "sent", "U4", "h:1")
			rec.pushes = append(rec.pushes, pushOf("kb", idAlert, all[500:1500], at, "ok", "U4"))
			rec.calls[extra.Key] = []callResult{{Status: 200}}
			return append(sends, extra)
		}, []string{"INCOMPLETE RUN", "DUPLICATE DELIVERY"}},
		{"run without sends", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.pushes = rec.pushes[1:]
			return sends[1:]
		}, []string{"INCOMPLETE RUN", "LOST"}},
		{"chunk never created", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.pushes = rec.pushes[:2]
			return sends[:2]
		}, []string{"INCOMPLETE RUN", "LOST"}},
		{"pushed before the fire", func(rec *emuRecord, _ []sendRow) []sendRow {
			rec.pushes[0].ReceivedAt = fire.Add(-time.Second)
			return nil
		}, []string{"EARLY"}},
		{"pushed with another app's key", func(rec *emuRecord, _ []sendRow) []sendRow {
			rec.pushes[0].AppKey = "kb"
			return nil
		}, []string{"WRONG APP", "WRONG AUDIENCE"}}, // beta's users got alpha's push
		{"pushed to another audience", func(rec *emuRecord, _ []sendRow) []sendRow {
			rec.pushes[2].Request.Audience.UserID = append(append([]string(nil), chunk2...), "someone-else")
			return nil
		}, []string{"WRONG AUDIENCE"}},
		{"unknown, last call unanswered, not pushed", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.pushes = rec.pushes[1:]
			sends[0].Status, sends[0].MessageUID = "unknown", ""
			rec.calls[sends[0].Key] = []callResult{{Status: 500}, {Dropped: true}}
			return nil
		}, nil},
		{"unknown, last call unanswered, processed", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.pushes[0].Answer = "stall_sent"
			sends[0].Status, sends[0].MessageUID = "unknown", ""
			rec.calls[sends[0].Key] = []callResult{{Dropped: true}}
			return nil
		}, nil},
		{"unknown, an unanswered call then an answered one", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.pushes = rec.pushes[1:]
			sends[0].Status, sends[0].MessageUID = "unknown", ""
			rec.calls[sends[0].Key] = []callResult{{Dropped: true}, {Status: 500}}
			return nil
		}, []string{"RESENT AFTER UNKNOWN", "UNEXPLAINED UNKNOWN", "LOST"}},
		{"answered push left unknown after an earlier unanswered call", func(rec *emuRecord, sends []sendRow) []sendRow {
			sends[0].Status, sends[0].MessageUID = "unknown", ""
			rec.calls[sends[0].Key] = []callResult{{Dropped: true}, {Status: 200}}
			return nil
		}, []string{"RESENT AFTER UNKNOWN", "MESSAGEUID NOT RECORDED", "UNEXPLAINED UNKNOWN"}},
		{"called again after an unanswered call, answered, recorded sent", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.calls[sends[0].Key] = []callResult{{Dropped: true}, {Status: 200}}
			return nil
		}, []string{"RESENT AFTER UNKNOWN"}},
		{"called again after an unanswered call, unanswered again", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.pushes[0].Answer = "stall_sent"
			sends[0].Status, sends[0].MessageUID = "unknown", ""
			rec.calls[sends[0].Key] = []callResult{{Dropped: true}, {Dropped: true}}
			return nil
		}, []string{"RESENT AFTER UNKNOWN"}},
		{"two calls of one send under way at once", func(rec *emuRecord, sends []sendRow) []sendRow {
			// In the order they ended: a 500 that began second and ended
			// first, then the 200 that was under way all along.
			rec.calls[sends[0].Key] = []callResult{{Status: 500, Began: 2, Ended: 3}, {Status: 200, Began: 1, Ended: 4}}
			return nil
		}, []string{"OVERLAPPING CALLS"}},
		{"a retried call after a 500, one after the other", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.calls[sends[0].Key] = []callResult{{Status: 500, Began: 1, Ended: 2}, {Status: 200, Began: 3, Ended: 4}}
			return nil
		}, nil},
		{"unknown, every call answered, worker alive", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.pushes = rec.pushes[1:]
			sends[0].Status, sends[0].MessageUID = "unknown", ""
			return nil
		}, []string{"UNEXPLAINED UNKNOWN", "LOST"}},
		{"unknown, held by a killed worker", func(rec *emuRecord, sends []sendRow) []sendRow {
			sends[0].Status, sends[0].MessageUID, sends[0].ClaimedBy = "unknown", "", killedClaimant
			return nil
		}, nil},
		{"unknown, held by a killed worker, since claimed by another", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.pushes = rec.pushes[1:]
			sends[0].Status, sends[0].MessageUID = "unknown", ""
			return nil
		}, []string{"UNEXPLAINED UNKNOWN", "LOST"}},
		{"unknown, claimed by a worker killed later, not holding it", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.pushes = append(rec.pushes[:1], rec.pushes[2])
			sends[1].Status, sends[1].MessageUID, sends[1].ClaimedBy = "unknown", "", killedClaimant
			return nil
		}, []string{"UNEXPLAINED UNKNOWN", "LOST"}},
		{"answered push left unknown by a worker killed later, not holding it", func(rec *emuRecord, sends []sendRow) []sendRow {
			sends[1].Status, sends[1].MessageUID, sends[1].ClaimedBy = "unknown", "", killedClaimant
			return nil
		}, []string{"MESSAGEUID NOT RECORDED", "UNEXPLAINED UNKNOWN"}},
		{"sent without push", func(rec *emuRecord, _ []sendRow) []sendRow {
			rec.pushes = rec.pushes[1:]
			return nil
		}, []string{"SENT WITHOUT PUSH", "LOST"}},
		{"stray push", func(rec *emuRecord, _ []sendRow) []sendRow {
			rec.pushes = append(rec.pushes, pushOf("ka", "something else", nil, at, "ok", "U7"))
			return nil
		}, []string{"STRAY PUSH"}},
		{"429 counted by the emulator", func(rec *emuRecord, _ []sendRow) []sendRow {
			rec.counters["kb"] = emulator.Counters{RateLimited: 1}
			return nil
		}, []string{"429"}},
		{"429 in the call log", func(rec *emuRecord, sends []sendRow) []sendRow {
			rec.calls[sends[1].Key] = []callResult{{Status: 429}, {Status: 200}}
			return nil
		}, []string{"429"}},
		{"messageUID of another push", func(rec *emuRecord, sends []sendRow) []sendRow {
			sends[1].MessageUID = "U3"
			return nil
		}, []string{"MESSAGEUID NOT RECORDED", "MESSAGEUID TWICE"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, sends := clean()
			if more := tt.plant(&rec, sends); more != nil {
				sends = more
			}
			resolveRecipients(sc, &rec)
			var p problems
			checkEmulator(&p, rec, sc, sends, heldByKilled)
			checkDeliveries(&p, sc, ids, rec, sends, unknowable(rec, heldByKilled))
			checkQuota(&p, sc, rec.pushes)
			wantPrefixes(t, p.list, tt.want)
		})
	}
}

// wantPrefixes fails unless every problem starts with one of want and
// every one of want starts some problem.
func wantPrefixes(t *testing.T, got, want []string) {
	t.Helper()
	used := map[string]bool{}
	for _, g := range got {
		ok := false
		for _, w := range want {
			if strings.HasPrefix(g, w) {
				ok, used[w] = true, true
			}
		}
		if !ok {
			t.Errorf("unexpected problem: %s", g)
		}
	}
	for _, w := range want {
		if !used[w] {
			t.Errorf("no problem starting %q; got:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

// testQuotaEveryMode plants pushes over each window mode of the scenario,
// in the app's own time zone, through checkQuota itself (the windows'
// buckets included).
func testQuotaEveryMode(t *testing.T) {
	shanghaiMidnight := time.Date(2026, 3, 8, 16, 0, 0, 0, time.UTC) // 2026-03-09 00:00 in Shanghai
	nyHour := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)            // 03:00 EDT, the hour after the spring-forward
	for _, tt := range []struct {
		name string
		app  appSpec
		at   []time.Time
		want string // "" for no problem
	}{
		// A Shanghai calendar day runs 16:00 to 16:00 UTC: four pushes on
		// one Shanghai day, over two UTC dates, exceed 3 a day.
		{"calendar day in the app's zone, over", appSpec{Hourly: 10, Daily: 3, HourWindow: "rolling", DayWindow: "calendar", Timezone: "Asia/Shanghai"},
			[]time.Time{shanghaiMidnight.Add(-20 * time.Hour), shanghaiMidnight.Add(-10 * time.Hour), shanghaiMidnight.Add(-9 * time.Hour), shanghaiMidnight.Add(-time.Minute)},
			"QUOTA EXCEEDED"},
		// The same four instants, the last after Shanghai midnight: two days.
		{"calendar day in the app's zone, within", appSpec{Hourly: 10, Daily: 3, HourWindow: "rolling", DayWindow: "calendar", Timezone: "Asia/Shanghai"},
			[]time.Time{shanghaiMidnight.Add(-20 * time.Hour), shanghaiMidnight.Add(-10 * time.Hour), shanghaiMidnight.Add(-9 * time.Hour), shanghaiMidnight},
			""},
		{"rolling day, over", appSpec{Hourly: 10, Daily: 3, HourWindow: "clock", DayWindow: "rolling", Timezone: "UTC"},
			[]time.Time{t0, t0.Add(10 * time.Hour), t0.Add(20 * time.Hour), t0.Add(24*time.Hour - time.Second)},
			"QUOTA EXCEEDED"},
		{"rolling day, within", appSpec{Hourly: 10, Daily: 3, HourWindow: "clock", DayWindow: "rolling", Timezone: "UTC"},
			[]time.Time{t0, t0.Add(10 * time.Hour), t0.Add(20 * time.Hour), t0.Add(24 * time.Hour)},
			""},
		{"clock hour in New York, over", appSpec{Hourly: 2, Daily: 100, HourWindow: "clock", DayWindow: "calendar", Timezone: "America/New_York"},
			[]time.Time{nyHour, nyHour.Add(30 * time.Minute), nyHour.Add(59 * time.Minute)},
			"QUOTA EXCEEDED"},
		{"clock hour in New York, within", appSpec{Hourly: 2, Daily: 100, HourWindow: "clock", DayWindow: "calendar", Timezone: "America/New_York"},
			[]time.Time{nyHour.Add(-time.Second), nyHour.Add(30 * time.Minute), nyHour.Add(60 * time.Minute)},
			""},
		{"rolling hour, over", appSpec{Hourly: 2, Daily: 100, HourWindow: "rolling", DayWindow: "calendar", Timezone: "Asia/Shanghai"},
			[]time.Time{t0.Add(30 * time.Minute), t0.Add(61 * time.Minute), t0.Add(89 * time.Minute)},
			"QUOTA EXCEEDED"},
		{"unknown window mode", appSpec{Hourly: 2, Daily: 100, HourWindow: "sliding", DayWindow: "calendar", Timezone: "UTC"},
			nil, "quota check"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.app.Name, tt.app.Key = "x", "kx"
			var pushes []emulator.Push
			for _, at := range tt.at {
				pushes = append(pushes, pushOf("kx", "a", nil, at, "ok", ""))
			}
			pushes = append(pushes, pushOf("other", "a", nil, t0, "ok", "")) // another app's: not counted
			var p problems
			checkQuota(&p, &scenario{apps: []appSpec{tt.app}}, pushes)
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			wantPrefixes(t, p.list, want)
		})
	}
}

// cleanRecord is a clean record of a run without faults: a tag campaign
// c000 (app alpha) and a 1500-id user-id campaign c001 (app beta), one
// fire each, every send pushed once at its fire and recorded; both apps
// have room for 100 pushes an hour and a day.
func cleanRecord() (*scenario, map[string]int64, emuRecord, []sendRow, time.Time) {
	return cleanRecordAt(0)
}

// cleanRecordAt is cleanRecord with every push received delay after its
// fire.
func cleanRecordAt(delay time.Duration) (*scenario, map[string]int64, emuRecord, []sendRow, time.Time) {
	fire := t0.Add(time.Hour)
	tagCampaign := campaignSpec{Name: "c000", App: "alpha", Schedule: campaign.Schedule{At: &fire}, Fires: []time.Time{fire}}
	idCampaign := campaignSpec{Name: "c001", App: "beta", Schedule: campaign.Schedule{At: &fire}, UserIDs: 1500, Fires: []time.Time{fire}}
	sc := &scenario{start: t0, end: t0.Add(3 * time.Hour), campaigns: []campaignSpec{tagCampaign, idCampaign},
		apps: []appSpec{{Name: "alpha", Key: "ka", Hourly: 100, Daily: 100, HourWindow: "rolling", DayWindow: "calendar", Timezone: "UTC"},
			{Name: "beta", Key: "kb", Hourly: 100, Daily: 100, HourWindow: "rolling", DayWindow: "calendar", Timezone: "UTC"}}}
	ids := map[string]int64{"c000": 1, "c001": 2}
	tagAlert, idAlert := alertFor(1, fire), alertFor(2, fire)
	all := userIDsOf(idCampaign)
	rec := emuRecord{counters: map[string]emulator.Counters{}, calls: map[string][]callResult{},
		pushes: []emulator.Push{
			pushOf("ka", tagAlert, nil, fire.Add(delay), "ok", "U1"),
			pushOf("kb", idAlert, all[:1000], fire.Add(delay), "ok", "U2"),
			pushOf("kb", idAlert, all[1000:], fire.Add(delay), "ok", "U3"),
		}}
	sends := []sendRow{
		sendOf(1, tagAlert, nil, "sent", "U1", "h:1"),
		sendOf(2, idAlert, all[:1000], "sent", "U2", "h:1"),
		sendOf(3, idAlert, all[1000:], "sent", "U3", "h:1"),
	}
	for i, s := range sends {
		rec.calls[s.Key] = []callResult{{Status: 200}}
		sends[i].RunID, sends[i].CampaignID = 2, 2 // the user-id chunks: run 2 of c001
	}
	sends[0].RunID, sends[0].CampaignID = 1, 1 // the tag push: run 1 of c000
	return sc, ids, rec, sends, fire
}

// TestChecksCatchWrongAudience guards the audience checks: a push must
// reach exactly its campaign's audience. Reading only audience.userid and
// audience.tag let a push widened by is_to_all, or narrowed by tag_or or
// packageName, pass; and a send without user ids slipped into a user-id
// campaign's run went unseen. Each push's whole audience must equal the
// campaign's (and its stored send's), the recipients the emulator resolved
// must be the expected ones, and every send and push of a user-id campaign
// must name user ids.
func TestChecksCatchWrongAudience(t *testing.T) {
	for _, tt := range []struct {
		name  string
		plant func(rec *emuRecord, sends []sendRow, fire time.Time) []sendRow
		want  []string
	}{
		{"clean", func(*emuRecord, []sendRow, time.Time) []sendRow { return nil }, nil},
		{"user-id chunk pushed with is_to_all: true (every user of the app)", func(rec *emuRecord, _ []sendRow, _ time.Time) []sendRow {
			rec.pushes[1].Request.Audience.IsToAll = true
			rec.pushes[1].Recipients = []string{"beta-u0", "beta-u1", "beta-u2"} // what the emulator resolves: everybody
			return nil
		}, []string{"WRONG AUDIENCE"}},
		{"tag campaign narrowed by a tag_or", func(rec *emuRecord, _ []sendRow, _ time.Time) []sendRow {
			rec.pushes[0].Request.Audience.TagOr = []string{"t1"}
			return nil
		}, []string{"WRONG AUDIENCE", "LOST"}}, // its audience got no push of its own
		{"tag campaign narrowed by packageName", func(rec *emuRecord, _ []sendRow, _ time.Time) []sendRow {
			rec.pushes[0].Request.Audience.PackageName = "com.other"
			rec.pushes[0].Recipients = []string{}
			return nil
		}, []string{"WRONG AUDIENCE", "LOST"}}, // its audience got no push of its own
		{"tag campaign stored with is_to_all, pushed as stored", func(rec *emuRecord, sends []sendRow, _ time.Time) []sendRow {
			sends[0].Audience.IsToAll = true
			rec.pushes[0].Request.Audience.IsToAll = true
			return nil
		}, []string{"WRONG AUDIENCE", "LOST"}}, // its audience got no push of its own
		{"the emulator resolved other recipients", func(rec *emuRecord, _ []sendRow, _ time.Time) []sendRow {
			rec.pushes[0].Recipients = []string{"alpha-u0"}
			return nil
		}, []string{"WRONG AUDIENCE"}},
		{"user-id campaign's run has an extra broadcast send (tag all), pushed", func(rec *emuRecord, sends []sendRow, fire time.Time) []sendRow {
			alert := alertFor(2, fire)
			extra := sendOf(4, alert, nil, "sent", "U4", "h:1") // tag [all]
			rec.pushes = append(rec.pushes, pushOf("kb", alert, nil, fire.Add(time.Second), "ok", "U4"))
			rec.calls[extra.Key] = []callResult{{Status: 200}}
			return append(sends, extra)
		}, []string{"WRONG AUDIENCE"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, ids, rec, sends, fire := cleanRecord()
			if more := tt.plant(&rec, sends, fire); more != nil {
				sends = more
			}
			resolveRecipients(sc, &rec)
			var p problems
			pipelineChecks(&p, sc, ids, rec, sends)
			wantPrefixes(t, p.list, tt.want)
		})
	}
}

// TestChecksCatchLateSend guards the lateness bound of a run without
// faults ("never early, rarely late"): a push that arrives after an
// instant at which its app had room, by the emulator's own count of the
// app's windows (widened by the guard's margin), is LATE; one that waited
// for its app's window to reopen is not. Without it a push 20 simulated
// hours late on an app with free quota passed, and so would a guard that
// counted a calendar day in the wrong zone.
func TestChecksCatchLateSend(t *testing.T) {
	m := quota.DefaultMargin
	shanghaiMidnight := t0.Add(time.Hour) // 2026-03-08 00:00 in Shanghai
	for _, tt := range []struct {
		name string
		app  appSpec // beta's quota
		fire time.Time
		// when the emulator received the id campaign's two chunks
		first, second time.Time
		want          []string
	}{
		{"on time", appSpec{Hourly: 100, Daily: 100, HourWindow: "rolling", DayWindow: "calendar", Timezone: "UTC"},
			t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(time.Hour), nil},
		{"20 h late with room", appSpec{Hourly: 100, Daily: 100, HourWindow: "rolling", DayWindow: "calendar", Timezone: "UTC"},
			t0.Add(time.Hour), t0.Add(21 * time.Hour), t0.Add(21 * time.Hour), []string{"LATE"}},
		{"waited for the rolling hour and its margin", appSpec{Hourly: 1, Daily: 100, HourWindow: "rolling", DayWindow: "calendar", Timezone: "UTC"},
			t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(2*time.Hour + m), nil},
		{"waited past the rolling hour", appSpec{Hourly: 1, Daily: 100, HourWindow: "rolling", DayWindow: "calendar", Timezone: "UTC"},
			t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(2*time.Hour + m + 5*time.Second), []string{"LATE"}},
		{"waited for the clock hour", appSpec{Hourly: 1, Daily: 100, HourWindow: "clock", DayWindow: "calendar", Timezone: "Asia/Kolkata"},
			t0.Add(10 * time.Minute), t0.Add(10 * time.Minute), t0.Add(30 * time.Minute), nil}, // 21:00 in Kolkata
		{"waited for the Shanghai midnight", appSpec{Hourly: 100, Daily: 1, HourWindow: "rolling", DayWindow: "calendar", Timezone: "Asia/Shanghai"},
			t0.Add(30 * time.Minute), t0.Add(30 * time.Minute), shanghaiMidnight, nil},
		{"waited for the UTC midnight (the day counted in the wrong zone)", appSpec{Hourly: 100, Daily: 1, HourWindow: "rolling", DayWindow: "calendar", Timezone: "Asia/Shanghai"},
			t0.Add(30 * time.Minute), t0.Add(30 * time.Minute), t0.Add(9 * time.Hour), []string{"LATE"}},
		{"waited a rolling day", appSpec{Hourly: 100, Daily: 1, HourWindow: "clock", DayWindow: "rolling", Timezone: "UTC"},
			t0.Add(30 * time.Minute), t0.Add(30 * time.Minute), t0.Add(24*time.Hour + 30*time.Minute + m), nil},
		{"waited a rolling day where the day was calendar", appSpec{Hourly: 100, Daily: 1, HourWindow: "clock", DayWindow: "calendar", Timezone: "UTC"},
			t0.Add(30 * time.Minute), t0.Add(30 * time.Minute), t0.Add(24*time.Hour + 30*time.Minute + m), []string{"LATE"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, ids, rec, sends, _ := cleanRecord()
			app := tt.app
			app.Name, app.Key = "beta", "kb"
			sc.apps[1] = app
			fire := tt.fire
			sc.campaigns[1].Schedule.At, sc.campaigns[1].Fires = &fire, []time.Time{fire}
			// the id campaign's alert names its fire: re-key its sends and pushes
			all := userIDsOf(sc.campaigns[1])
			alert := alertFor(2, fire)
			rec.pushes[1] = pushOf("kb", alert, all[:1000], tt.first, "ok", "U2")
			rec.pushes[2] = pushOf("kb", alert, all[1000:], tt.second, "ok", "U3")
			sends[1] = sendOf(2, alert, all[:1000], "sent", "U2", "h:1")
			sends[2] = sendOf(3, alert, all[1000:], "sent", "U3", "h:1")
			rec.calls = map[string][]callResult{}
			for _, s := range sends {
				rec.calls[s.Key] = []callResult{{Status: 200}}
			}
			resolveRecipients(sc, &rec)
			var p problems
			pipelineChecks(&p, sc, ids, rec, sends)
			wantPrefixes(t, p.list, tt.want)
		})
	}
}

// TestKilledBeforeCallIsCountedApart guards the killed-worker excuse. A
// send a killed worker held in flight may end unknown: the design accepts
// that a send found in_flight after a crash becomes unknown, because the
// system cannot know whether the call was made, so such a send is not
// LOST even when the emulator never saw a call for it (the worker died
// between its claim and its call). It must, however, be counted apart
// (killedBeforeCall, logged by TestChaos as "killed before the call"),
// and only sends the service provably never got are counted there.
func TestKilledBeforeCallIsCountedApart(t *testing.T) {
	sc, ids, rec, sends, _ := cleanRecord()
	kills := newKillRecord()
	kills.add("host:666", []int64{1, 2})
	// Send 1 (the tag campaign's only send) was claimed by host:666, which
	// was killed before it called: no call, no push.
	sends[0].Status, sends[0].MessageUID, sends[0].ClaimedBy = "unknown", "", "host:666"
	delete(rec.calls, sends[0].Key)
	rec.pushes = rec.pushes[1:]
	// Send 2 was held too, but its call was made (and answered to the dead
	// worker): excused, and not counted as killed before the call.
	sends[1].Status, sends[1].MessageUID, sends[1].ClaimedBy = "unknown", "", "host:666"
	resolveRecipients(sc, &rec)
	var p problems
	chaosChecks(&p, sc, ids, rec, sends, kills)
	wantPrefixes(t, p.list, nil)
	got := killedBeforeCall(rec, sends, kills.heldAtKill)
	if len(got) != 1 || got[0].ID != 1 {
		t.Errorf("killed before the call: %v, want send 1 only", got)
	}
}

// TestChaosMustHappen guards TestChaos against passing without chaos: a
// fault kind its rate promised at least minExpectedFaults times must have
// been injected, each kind and all together within chance of their
// configured rates, and at least one process must have been killed. A kind a short run could
// well miss by chance (a CI run once met no stall_dropped at 3 %) is not
// required.
func TestChaosMustHappen(t *testing.T) {
	faults := emulator.Faults{Error500: 0.05, Error504: 0.05, StallSent: 0.04, StallDropped: 0.03, Reset: 0.03}
	// 1,000 calls: 50, 50, 40, 30 and 30 faults expected, 200 in all.
	all := emulator.Counters{Accepted: 800, Fault500: 52, Fault504: 47, StallSent: 41, StallDropped: 28, ResetConn: 32}
	kills := []string{"kill-worker at simulated 15:44:00: killed worker-1", "flush-redis at simulated 16:48:00: FLUSHALL"}
	if got := checkFaultsHappened(faults, all, kills); len(got) != 0 {
		t.Errorf("every fault and a kill happened, yet: %v", got)
	}
	noStall := all
	noStall.Accepted += noStall.StallDropped
	noStall.StallDropped = 0
	if got := checkFaultsHappened(faults, noStall, kills); len(got) != 1 || !strings.Contains(got[0], "stall_dropped") {
		t.Errorf("stall_dropped never happened over 1,000 calls: got %v", got)
	}
	unconfigured := faults
	unconfigured.StallDropped = 0
	if got := checkFaultsHappened(unconfigured, noStall, kills); len(got) != 0 {
		t.Errorf("an unconfigured fault that never happened is no problem: got %v", got)
	}
	// A short run: 100 calls, 3 stall_dropped expected: missing it is chance.
	short := emulator.Counters{Accepted: 82, Fault500: 6, Fault504: 5, StallSent: 4, ResetConn: 3}
	if got := checkFaultsHappened(faults, short, kills); len(got) != 0 {
		t.Errorf("a short run without the rarest fault: got %v", got)
	}
	few := emulator.Counters{Accepted: 990, Fault500: 3, Fault504: 2, StallSent: 2, StallDropped: 1, ResetConn: 2}
	if got := checkFaultsHappened(faults, few, kills); len(got) != 6 || !strings.Contains(got[5], "faults on 10 of 1000 calls, 200 expected") {
		t.Errorf("faults on 1 %% of calls where 20 %% are configured: got %v; want each kind and the total reported", got)
	}
	if got := checkFaultsHappened(faults, all, kills[1:]); len(got) != 1 || !strings.Contains(got[0], "no process was killed") {
		t.Errorf("no kill: got %v", got)
	}
}
