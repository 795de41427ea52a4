//go:build e2e

package e2e

// Each test plants one broken promise in what the e2e checks read and
// asserts that the checks report it.

import (
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi/emulator"
)

// A send a killed worker held ends unknown (the design: tagcast cannot know
// whether the call was made). Where the emulator's record proves the
// service never got it, no call at all or only calls answered without a
// push (a 500), it is counted apart as killed before the call, not hidden
// among the unknowable calls; and it is no problem.
func TestKilledBeforeCallCountsCallsAnsweredWithoutAPush(t *testing.T) {
	for _, tt := range []struct {
		name  string
		calls []callResult
	}{
		{"no call at all", nil},
		{"its only call answered 500 (not processed)", []callResult{{Status: 500, Began: 1, Ended: 2}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, ids, rec, sends, _ := cleanRecordAt(time.Second)
			kills := newKillRecord()
			kills.add("host:666", []int64{1})
			// send 1 (the tag campaign's only send) held by the killed worker,
			// never pushed: the emulator has no push for it.
			sends[0].Status, sends[0].MessageUID, sends[0].ClaimedBy = "unknown", "", "host:666"
			if tt.calls == nil {
				delete(rec.calls, sends[0].Key)
			} else {
				rec.calls[sends[0].Key] = tt.calls
				rec.counters["ka"] = emulator.Counters{Fault500: 1}
			}
			rec.pushes = rec.pushes[1:]
			resolveRecipients(sc, &rec)
			var p problems
			chaosChecks(&p, sc, ids, rec, sends, kills)
			checkUnansweredAccounted(&p, rec)
			wantPrefixes(t, p.list, nil)
			if got := killedBeforeCall(rec, sends, kills.heldAtKill); len(got) != 1 || got[0].ID != 1 {
				t.Errorf("killed before the call: %v, want send 1 (calls %v)", got, tt.calls)
			}
		})
	}
}

// The quota is judged on the store's quota ledger too, not only on the
// pushes the emulator processed. An unanswered call (reset, stall_dropped)
// "may have been sent", so the guard must count it. Here alpha allows 1
// push an hour: a send of c002 met a reset at fire-20m (ledger: an unknown
// attempt), then c000 was pushed at fire+1s: two possibly-counted attempts
// in one rolling hour. A guard that forgot unknown attempts does exactly
// this, and the emulator, which never processed the reset call, cannot
// answer 429.
func TestQuotaCountsAttemptsTheServiceMayHaveCounted(t *testing.T) {
	sc, ids, rec, sends, fire := cleanRecordAt(time.Second)
	sc.apps[0].Hourly = 1
	early := fire.Add(-20 * time.Minute)
	c002 := campaignSpec{Name: "c002", App: "alpha", Schedule: campaign.Schedule{At: &early}, Fires: []time.Time{early}}
	sc.campaigns = append(sc.campaigns, c002)
	ids["c002"] = 3
	unk := sendOf(4, alertFor(3, early), nil, "unknown", "", "h:1")
	sends = append(sends, unk)
	rec.calls[unk.Key] = []callResult{{Dropped: true, Began: 1, Ended: 2}}
	rec.counters["ka"] = emulator.Counters{ResetConn: 1}
	// The store's ledger: every attempt that may count at the service.
	rec.counted = map[string][]time.Time{
		"ka": {early, rec.pushes[0].ReceivedAt},
		"kb": {rec.pushes[1].ReceivedAt, rec.pushes[2].ReceivedAt},
	}
	resolveRecipients(sc, &rec)
	var p problems
	chaosChecks(&p, sc, ids, rec, sends, newKillRecord())
	checkUnansweredAccounted(&p, rec)
	if !hasPrefix(p.list, "QUOTA EXCEEDED") {
		t.Errorf("alpha (1 an hour) made two attempts that may count within 20 minutes (%s unknown after a reset, %s pushed): problems %q",
			early.Format(time.RFC3339), rec.pushes[0].ReceivedAt.Format(time.RFC3339), p.list)
	}
}

// DESIGN: the worker records per Send "messageUID, push id" and `campaign
// show` reports both: a send recorded sent with the wrong push id, or none,
// is a problem, as a wrong messageUID is.
func TestPushIDIsChecked(t *testing.T) {
	sc, ids, rec, sends, _ := cleanRecordAt(time.Second)
	for i := range rec.pushes { // the emulator answers id == messageUID
		rec.pushes[i].ID = rec.pushes[i].MessageUID
	}
	for i := range sends {
		sends[i].PushID = sends[i].MessageUID
	}
	sends[0].PushID = ""   // lost
	sends[1].PushID = "U3" // another push's id
	resolveRecipients(sc, &rec)
	var p problems
	pipelineChecks(&p, sc, ids, rec, sends)
	if len(p.list) < 2 {
		t.Errorf("send 1 recorded without its push id, send 2 with another push's: problems %q", p.list)
	}
}

func hasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
