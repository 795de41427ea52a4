//go:build e2e

package e2e

// These guard the harness against checks that pass because what they
// check never happened. A review found each gap (session 11).

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/pushapi/emulator"
)

// checkProbed is the only evidence that the search for EARLY sends ran:
// it passed when the clock rested at no probe at all, and when one run
// was held at one probe while every other probe gave up waiting.
func TestProbesMustHappen(t *testing.T) {
	sc := newScenario(t, rand.New(rand.NewPCG(42, 1)), sizes["short"].campaigns, t0, sizes["short"].horizon)
	probes := probeInstants(sc, schedulerLookahead)
	if len(probes) == 0 {
		t.Fatal("the scenario has no probe instants")
	}
	n := len(probes)
	for _, tt := range []struct {
		name string
		st   probeStats
		void bool
	}{
		{"every probe visited, runs held, a few gave up", probeStats{visited: n, held: 3 * n, missed: n / 10}, false},
		{"no probe ever visited", probeStats{}, true},
		{"one probe skipped", probeStats{visited: n - 1, held: 3 * n}, true},
		{"no run ever held", probeStats{visited: n}, true},
		{"one run held, every other probe gave up", probeStats{visited: n, held: 1, missed: n - 1}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &scenarioRun{t: t, sc: sc, st: &stepper{probes: probes, probe: tt.st}}
			var p problems
			r.checkProbed(&p)
			if void := len(p.list) > 0; void != tt.void {
				t.Errorf("%d probes due, stats %s: reported %v, want void=%v", n, tt.st, p.list, tt.void)
			}
		})
	}
}

// The unanswered fault kinds (stall_sent, stall_dropped, reset) may each
// be too rare for a short run to promise one, but together they must have
// happened: otherwise no send met an unknowable outcome and the check that
// `unknown` is only where unknowable ran on nothing.
func TestChaosMustLeaveACallUnanswered(t *testing.T) {
	faults := emulator.Faults{Error500: 0.05, Error504: 0.05, StallSent: 0.04, StallDropped: 0.03, Reset: 0.03}
	kills := []string{"kill-worker at simulated 15:36:00: killed worker-2"}
	// 100 calls: 10 faults, all 5xx; not one stall or reset (10 expected).
	if got := checkFaultsHappened(faults, emulator.Counters{Accepted: 90, Fault500: 5, Fault504: 5}, kills); len(got) == 0 {
		t.Error("no call went unanswered over 100 calls (10 expected), yet chaos counts as done")
	}
	if got := checkFaultsHappened(faults, emulator.Counters{Accepted: 89, Fault500: 5, Fault504: 5, ResetConn: 1}, kills); len(got) != 0 {
		t.Errorf("one reset among 100 calls is enough: got %v", got)
	}
}

// Every scenario has a cron in a zone other than UTC with a fire in its
// horizon: CI's short size (4 hours from t0) drew none, since most zoned
// kinds have no fire in it and are drawn again.
func TestEveryScenarioRunsAZonedCron(t *testing.T) {
	for _, name := range []string{"short", "full"} {
		sz := sizes[name]
		for seed := range uint64(8) {
			sc := newScenario(t, rand.New(rand.NewPCG(seed, 1)), sz.campaigns, t0, sz.horizon)
			zoned := 0
			for _, cs := range sc.campaigns {
				if cs.Schedule.Kind() == "cron" && slices.ContainsFunc(zonedKinds, func(k cronKind) bool {
					return k.spec == cs.Schedule.Cron && k.tz == cs.Schedule.Timezone
				}) {
					zoned += len(cs.Fires)
				}
			}
			if zoned == 0 {
				t.Errorf("size %s seed %d: no fire of a zoned cron", name, seed)
			}
		}
	}
}

// Every size's chaos does every kind of event, a Redis restart included
// (empty, a new run: the guard rebuilds its windows from the ledger): the
// short size CI runs only flushed.
func TestEverySizeDoesEveryChaosEvent(t *testing.T) {
	for name, sz := range sizes {
		var kinds []string
		for _, s := range sz.chaos {
			kinds = append(kinds, s.kind)
		}
		for _, want := range []string{"kill-worker", "kill-scheduler", "kill-api", "restart-redis", "flush-redis"} {
			if !slices.Contains(kinds, want) {
				t.Errorf("size %s: chaos %v has no %s", name, kinds, want)
			}
		}
	}
}

// A call the log saw dropped must be a stall or reset the emulator
// injected, and every processed stall must have left its push: a refusal
// (429, 400) hidden by a stall, or a call dropped for another reason,
// would excuse an unknown send that is no such thing.
func TestUnansweredCallsAreAccountedFor(t *testing.T) {
	_, _, rec, sends, _ := cleanRecordAt(time.Second)
	rec.pushes[0].Answer = "stall_sent"
	rec.calls[sends[0].Key] = []callResult{{Dropped: true}}
	rec.calls[sends[1].Key] = []callResult{{Status: 500}, {Dropped: true}}
	for _, tt := range []struct {
		name     string
		counters map[string]emulator.Counters
		want     []string
	}{
		{"a processed stall and a reset, both injected", map[string]emulator.Counters{"ka": {StallSent: 1}, "kb": {ResetConn: 1, Fault500: 1}}, nil},
		{"a dropped call the emulator did not inject", map[string]emulator.Counters{"ka": {StallSent: 1}, "kb": {Fault500: 1}}, []string{"UNACCOUNTED DROP"}},
		{"a processed stall that left no push (a refusal hidden)", map[string]emulator.Counters{"ka": {StallSent: 1}, "kb": {StallSent: 1, Fault500: 1}}, []string{"HIDDEN ANSWER"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p problems
			rec.counters = tt.counters
			checkUnansweredAccounted(&p, rec)
			wantPrefixes(t, p.list, tt.want)
		})
	}
}

// Chaos had no lateness check: a push whose send met no fault could arrive
// any time before the stepper's limit while its app had room. Now such a
// push is LATE as in TestPipeline, with the room counted as the guard
// counts it (the store's ledger and the slots killed workers left
// reserved); a send that met a fault, or a worker killed holding it, is
// not judged.
func TestChaosChecksLateness(t *testing.T) {
	tight := func(sc *scenario) { // alpha: one push an hour
		sc.apps[0].Hourly = 1
	}
	for _, tt := range []struct {
		name  string
		delay time.Duration
		plant func(sc *scenario, rec *emuRecord, sends []sendRow, kills *killRecord)
		late  bool
	}{
		{"on time", time.Second, nil, false},
		{"20 h late with room", 20 * time.Hour, nil, true},
		{"20 h late after a 500 (retried: not judged)", 20 * time.Hour, func(_ *scenario, rec *emuRecord, sends []sendRow, _ *killRecord) {
			for _, s := range sends {
				rec.calls[s.Key] = []callResult{{Status: 500}, {Status: 200}}
			}
		}, false},
		{"30 min late behind a slot a killed worker left reserved", 30 * time.Minute, func(sc *scenario, rec *emuRecord, sends []sendRow, kills *killRecord) {
			tight(sc)
			rec.pushes = rec.pushes[:1] // alpha's push alone
			kills.wasted["ka"] = []time.Time{rec.pushes[0].ReceivedAt.Add(-time.Hour + 20*time.Minute)}
		}, false},
		{"30 min late behind a slot the ledger has", 30 * time.Minute, func(sc *scenario, rec *emuRecord, sends []sendRow, _ *killRecord) {
			tight(sc)
			rec.pushes = rec.pushes[:1]
			rec.counted = map[string][]time.Time{"ka": {rec.pushes[0].ReceivedAt.Add(-time.Hour + 20*time.Minute)}}
		}, false},
		{"30 min late, the window empty", 30 * time.Minute, func(sc *scenario, rec *emuRecord, _ []sendRow, _ *killRecord) {
			tight(sc)
			rec.pushes = rec.pushes[:1]
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, ids, rec, sends, _ := cleanRecordAt(tt.delay)
			kills := newKillRecord()
			if tt.plant != nil {
				tt.plant(sc, &rec, sends, kills)
			}
			var p problems
			checkChaosLateness(&p, sc, ids, rec, sends, kills)
			if late := slices.ContainsFunc(p.list, func(s string) bool { return strings.HasPrefix(s, "LATE") }); late != tt.late {
				t.Errorf("LATE reported %v, want %v: %v", late, tt.late, p.list)
			}
		})
	}
}

// The guard scores an attempt at its instant rounded up to the
// millisecond, and frees a rolling slot at that millisecond: a slot freed
// and taken again in the same millisecond left no room before it. The
// chaos lateness check counted the ledger's microseconds and found room in
// the fraction of a millisecond before the guard's (a full run's 19 LATE).
func TestChaosLatenessCountsAsTheGuardScores(t *testing.T) {
	sc, ids, rec, sends, fire := cleanRecordAt(time.Second)
	sc.apps[0].Hourly = 1
	first := fire.Add(-time.Hour - 10*time.Second + 5*time.Second + 336167*time.Microsecond) // an earlier attempt, expiring mid-millisecond 5 s after the fire
	taken := first.Add(time.Hour + 10*time.Second).Truncate(time.Millisecond).Add(time.Millisecond)
	rec.pushes = rec.pushes[:1]
	rec.pushes[0].ReceivedAt = taken.Add(30 * time.Minute) // alpha's push waited for the next slot
	rec.counted = map[string][]time.Time{"ka": {first, taken, rec.pushes[0].ReceivedAt}}
	var p problems
	checkChaosLateness(&p, sc, ids, rec, sends, newKillRecord())
	if len(p.list) != 0 {
		t.Errorf("the slot freed at %s was taken in its millisecond (%s): no room, yet %v", first.Add(time.Hour+10*time.Second).Format("15:04:05.000000"), taken.Format("15:04:05.000"), p.list)
	}
}
