//go:build e2e

package e2e

// Gaps in the e2e checks found by a review of them: each test plants, in
// what the checks read, a concrete bad outcome the checks let pass before
// their fix. None needs Redis, PostgreSQL or a tagcast process.

import (
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/pushapi/emulator"
)

// plantedChaosProblems runs what TestChaos runs on a record (chaosChecks,
// checkUnansweredAccounted, checkClaimants), plus checkFires on runs when
// runs is non-nil.
func plantedChaosProblems(t *testing.T, sc *scenario, ids map[string]int64, rec emuRecord, sends []sendRow, runs []runRow) []string {
	t.Helper()
	resolveRecipients(sc, &rec)
	var p problems
	if runs != nil {
		checkFires(&p, sc, ids, runs)
		checkRunOutcomes(&p, runs, sends)
	}
	chaosChecks(&p, sc, ids, rec, sends, newKillRecord())
	checkUnansweredAccounted(&p, rec)
	checkClaimants(&p, sends)
	return p.list
}

// The baseline of every plant below passes every check; a plant must
// therefore be what makes a problem appear.
func plantedBaselineIsClean(t *testing.T) {
	t.Helper()
	sc, ids, rec, sends, fire := cleanRecordAt(time.Second)
	runs := []runRow{{1, 1, fire, "done"}, {2, 2, fire, "done"}}
	if got := plantedChaosProblems(t, sc, ids, rec, sends, runs); len(got) != 0 {
		t.Fatalf("the unplanted baseline already has problems: %q", got)
	}
}

// Was: a send called again after its call was answered
// 200 (a re-send of a push already delivered) passes whenever the second
// call meets one of the emulator's faults that leaves no push: a 500/504,
// a stall_dropped or a reset (16% of the calls in TestChaos). At a real
// service a reset or a stall may well have delivered the second push: a
// possible duplicate nobody sees. checkCallOrder (check_test.go:364-380)
// only flags a call after an UNANSWERED call (case prev.Dropped,
// check_test.go:375) or overlapping calls, never a call after a 200;
// judgePush (check_test.go:391) sees only the one push; checkChaosLateness
// skips the send (two calls: not clean).
func TestPlantedResendAfterA200IsReported(t *testing.T) {
	plantedBaselineIsClean(t)
	for _, tt := range []struct {
		name     string
		second   callResult
		counters emulator.Counters
	}{
		{"second call answered 500", callResult{Status: 500, Began: 3, Ended: 4}, emulator.Counters{Fault500: 1}},
		{"second call answered 504", callResult{Status: 504, Began: 3, Ended: 4}, emulator.Counters{Fault504: 1}},
		{"second call reset (may have been pushed again)", callResult{Dropped: true, Began: 3, Ended: 4}, emulator.Counters{ResetConn: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, ids, rec, sends, _ := cleanRecordAt(time.Second)
			// send 1 (c000) was pushed and recorded sent with its messageUID,
			// then called once more: a second delivery attempt of a sent send.
			rec.calls[sends[0].Key] = []callResult{{Status: 200, Began: 1, Ended: 2}, tt.second}
			rec.counters["ka"] = tt.counters
			if got := plantedChaosProblems(t, sc, ids, rec, sends, nil); len(got) == 0 {
				t.Errorf("send 1 was called again after its call was answered 200 (calls %v): a re-send of a delivered push, yet no problem",
					rec.calls[sends[0].Key])
			}
		})
	}
}

// Was: "emulator faults at 20%" is verified only loosely.
// checkFaultsHappened (e2e_test.go:212) asks each configured kind to have
// happened at least once (e2e_test.go:230) and all kinds together to reach
// half the configured share (e2e_test.go:241): a run whose faults hit 12%
// of 2,000 calls (about 9 standard deviations under 20%), or whose 504s
// hit 4 calls where 100 were due, counts as full chaos. A fault wiring
// that skips some calls (retries, one app, one kind) goes unseen.
func TestPlantedFaultRatesAreAsConfigured(t *testing.T) {
	faults := emulator.Faults{Error500: 0.05, Error504: 0.05, StallSent: 0.04, StallDropped: 0.03, Reset: 0.03} // TestChaos's
	kills := []string{"kill-worker at simulated 15:44:00: killed worker-1", "kill-scheduler at simulated 16:10:00: killed scheduler-1"}
	for _, tt := range []struct {
		name string
		seen emulator.Counters
	}{
		// 2,000 calls, 240 faults (12%), every kind at 60% of its rate.
		{"faults on 12% of 2,000 calls", emulator.Counters{Accepted: 1760, Fault500: 60, Fault504: 60, StallSent: 48, StallDropped: 36, ResetConn: 36}},
		// 2,000 calls, 400 faults (20%), but 4 504s where 100 were due.
		{"4 504s where 100 were due", emulator.Counters{Accepted: 1600, Fault500: 196, Fault504: 4, StallSent: 80, StallDropped: 60, ResetConn: 60}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkFaultsHappened(faults, tt.seen, kills); len(got) == 0 {
				t.Errorf("faults %s over %d calls, configured 20%% (5/5/4/3/3), accepted as the configured chaos",
					describeFaults(tt.seen), tt.seen.Accepted+tt.seen.Fault500+tt.seen.Fault504+tt.seen.StallSent+tt.seen.StallDropped+tt.seen.ResetConn)
			}
		})
	}
}

// Was: the quota check of attempts the service may have counted
// (checkLedgerQuota, check_test.go:648) judges the store's quota ledger
// only against itself: nothing reconciles it with the emulator's pushes or
// the call log. An attempt the store never ledgered (an unknown outcome
// left out, so the guard's rebuild after a Redis restart or FLUSHALL
// forgets it too) is simply not counted, and a ledger with no rows at all
// passed (record, check_test.go:211-224, returns an empty map; the check
// then had nothing to count). The ledger is now held to at least the pushes
// the emulator accepted per app, and to every call (TestPlantedEveryCallIsCounted).
func TestPlantedLedgerHoldsEveryAttempt(t *testing.T) {
	plantedBaselineIsClean(t)
	t.Run("an empty ledger while the emulator accepted pushes", func(t *testing.T) {
		sc, ids, rec, sends, _ := cleanRecordAt(time.Second)
		rec.counted = map[string][]time.Time{} // what record returns for an empty quota_ledger
		if got := plantedChaosProblems(t, sc, ids, rec, sends, nil); len(got) == 0 {
			t.Errorf("the emulator accepted %d pushes, all sent, and the quota ledger has no row: no problem", len(rec.pushes))
		}
	})
}

// Was: under chaos a run's final status is never compared with its
// sends. checkFires (check_test.go:151-154) wants only a settled run
// (settled, check_test.go:188: anything but pending or running), and
// TestChaos checks send statuses only (e2e_test.go:146-151); TestPipeline
// alone wants done (e2e_test.go:85-89). The state machine
// (docs/state-machine.md) says done iff every send is sent. A run stored
// failed (or expired) though its push went out and its messageUID is
// recorded, or done though its only send ended unknown, passes: the store,
// the source of truth, misreports the fire to the operator (`campaign
// show`, and a retry of a "failed" run that was delivered).
func TestPlantedRunStatusMatchesItsSends(t *testing.T) {
	plantedBaselineIsClean(t)
	for _, tt := range []struct {
		name  string
		plant func(rec *emuRecord, sends []sendRow) // the run of c000 (id 1), send 1
		run1  string
	}{
		{"run stored failed though its send is sent", func(*emuRecord, []sendRow) {}, "failed"},
		{"run stored expired though its send is sent", func(*emuRecord, []sendRow) {}, "expired"},
		{"run stored done though its send ended unknown", func(rec *emuRecord, sends []sendRow) {
			// processed, answer dropped (stall_sent): unknown is right for the
			// send, done is not for the run
			rec.pushes[0].Answer = "stall_sent"
			sends[0].Status, sends[0].MessageUID = "unknown", ""
			rec.calls[sends[0].Key] = []callResult{{Dropped: true, Began: 1, Ended: 2}}
			rec.counters["ka"] = emulator.Counters{StallSent: 1}
		}, "done"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, ids, rec, sends, fire := cleanRecordAt(time.Second)
			sends[0].RunID, sends[0].CampaignID = 1, 1
			sends[1].RunID, sends[1].CampaignID = 2, 2
			sends[2].RunID, sends[2].CampaignID = 2, 2
			tt.plant(&rec, sends)
			runs := []runRow{{1, 1, fire, tt.run1}, {2, 2, fire, "done"}}
			if got := plantedChaosProblems(t, sc, ids, rec, sends, runs); len(got) == 0 {
				t.Errorf("run 1 is %s while its only send is %s: no problem", tt.run1, sends[0].Status)
			}
		})
	}
}

// timedRecord is cleanRecordAt's record as record reads a real run: each
// call with its App-Key and instant (its push's), and the store's quota
// ledger with one attempt per push at its instant.
func timedRecord() (*scenario, map[string]int64, emuRecord, []sendRow, time.Time) {
	sc, ids, rec, sends, fire := cleanRecordAt(time.Second)
	rec.counted = map[string][]time.Time{}
	for _, ps := range rec.pushes {
		k := sendKey(ps.Request)
		rec.calls[k] = []callResult{{Status: 200, App: ps.AppKey, At: ps.ReceivedAt}}
		rec.counted[ps.AppKey] = append(rec.counted[ps.AppKey], ps.ReceivedAt)
	}
	return sc, ids, rec, sends, fire
}

// Was: a call that reached the service and left no push (answered a 5xx,
// or reset) was held to nothing. checkQuota recounts the emulator's
// accepted pushes, and checkLedgerQuota wants the ledger to hold one
// attempt per accepted push: an attempt the guard never counted (a retry
// after a 500 on a slot it forgot, or a ledger missing it, so that a
// rebuild after a Redis flush forgets it) passed, and so did calls over
// the quota as long as the pushes and the ledger were within it. The call
// log now keeps each call's App-Key and instant.
func TestPlantedEveryCallIsCounted(t *testing.T) {
	sc, ids, rec, sends, _ := timedRecord()
	if got := plantedChaosProblems(t, sc, ids, rec, sends, nil); len(got) != 0 {
		t.Fatalf("the unplanted baseline already has problems: %q", got)
	}
	t.Run("a 500 call with no attempt in the ledger", func(t *testing.T) {
		sc, ids, rec, sends, _ := timedRecord()
		ok := rec.calls[sends[0].Key][0]
		fail := callResult{Status: 500, Began: 1, Ended: 2, App: ok.App, At: ok.At}
		ok.Began, ok.Ended = 3, 4
		rec.calls[sends[0].Key] = []callResult{fail, ok}
		rec.counters["ka"] = emulator.Counters{Fault500: 1}
		got := plantedChaosProblems(t, sc, ids, rec, sends, nil)
		if !hasProblem(got, "CALL NOT COUNTED") {
			t.Errorf("two calls of app alpha reached the service, its ledger holds one attempt: want CALL NOT COUNTED, got %q", got)
		}
		// With the attempt in the ledger, the same calls pass.
		rec.counted["ka"] = append(rec.counted["ka"], fail.At)
		if got := plantedChaosProblems(t, sc, ids, rec, sends, nil); len(got) != 0 {
			t.Errorf("each call has its attempt in the ledger: want no problem, got %q", got)
		}
	})
	t.Run("calls over the hour's quota, each attempt ledgered long before", func(t *testing.T) {
		sc, ids, rec, sends, _ := timedRecord()
		sc.apps[1].Hourly = 2 // beta: 2 an hour, rolling
		// beta's two chunks, each called once more after a 504 a second
		// before its 200: four calls within a second. Their attempts were
		// ledgered hours apart (no window holds two), so only the calls'
		// own instants show three in one hour.
		var ledger []time.Time
		for i, s := range sends[1:] {
			ok := rec.calls[s.Key][0]
			fail := callResult{Status: 504, Began: uint64(4*i + 1), Ended: uint64(4*i + 2), App: ok.App, At: ok.At.Add(-time.Second)}
			ok.Began, ok.Ended = uint64(4*i+3), uint64(4*i+4)
			rec.calls[s.Key] = []callResult{fail, ok}
			ledger = append(ledger, fail.At.Add(-time.Duration(2*i+4)*time.Hour), ok.At.Add(-time.Duration(2*i+3)*time.Hour))
		}
		rec.counted["kb"] = ledger
		rec.counters["kb"] = emulator.Counters{Fault504: 2}
		got := plantedChaosProblems(t, sc, ids, rec, sends, nil)
		if !hasProblem(got, "QUOTA EXCEEDED") {
			t.Errorf("4 calls of beta within a second, quota 2 an hour: want QUOTA EXCEEDED, got %q", got)
		}
	})
}

// Was: a call made before its fire that met a fault (a 504: no push)
// passed: checkDeliveries times the emulator's accepted pushes only.
func TestPlantedEarlyCallIsReported(t *testing.T) {
	sc, ids, rec, sends, fire := timedRecord()
	ok := rec.calls[sends[0].Key][0]
	early := callResult{Status: 504, Began: 1, Ended: 2, App: ok.App, At: fire.Add(-time.Second)}
	ok.Began, ok.Ended = 3, 4
	rec.calls[sends[0].Key] = []callResult{early, ok}
	rec.counted["ka"] = append(rec.counted["ka"], early.At)
	rec.counters["ka"] = emulator.Counters{Fault504: 1}
	if got := plantedChaosProblems(t, sc, ids, rec, sends, nil); !hasProblem(got, "EARLY CALL") {
		t.Errorf("a call a second before its fire, answered 504: want EARLY CALL, got %q", got)
	}
}

func hasProblem(list []string, prefix string) bool {
	for _, p := range list {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}
