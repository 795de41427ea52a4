//go:build e2e

package e2e

// Ways the e2e checks passed while a promise was broken, found by a review
// of them: each test plants the broken promise in what the checks read (or
// looks at the cluster's wiring) and wants it reported. None starts a
// tagcast process or needs Redis or PostgreSQL.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
)

// Guards: every /push.json call of the call log is a call of a send of the
// store (STRAY CALL). A call no send holds (a body for a fire that does not
// exist, a rogue re-send under another key) may have been delivered at the
// real service even when the emulator's fault hid it (a reset, a
// stall_dropped, a 504: no push): a push nobody scheduled.
//
// Was: nothing reported it. checkCallsNotEarly skipped it as "a stray
// call: checkEmulator's", but checkEmulator reported only STRAY PUSH, from
// the pushes, and never matched the call log's keys with the store's
// sends.
func TestStrayCallIsReported(t *testing.T) {
	sc, ids, rec, sends, fire := timedRecord()
	if got := plantedChaosProblems(t, sc, ids, rec, sends, nil); len(got) != 0 {
		t.Fatalf("the unplanted baseline already has problems: %q", got)
	}
	// c000 (alpha, a tag campaign) has one fire; a call for a fire an hour
	// later, which it does not have and no send of the store is for, met a
	// reset. Its attempt is in the ledger and the reset was injected, so the
	// quota and accounting checks have nothing to say.
	strayKey := alertFor(ids["c000"], fire.Add(time.Hour))
	at := fire.Add(10 * time.Minute)
	rec.calls[strayKey] = []callResult{{Dropped: true, Began: 11, Ended: 12, App: "ka", At: at}}
	rec.counted["ka"] = append(rec.counted["ka"], at)
	rec.counters["ka"] = emulator.Counters{ResetConn: 1}
	got := plantedChaosProblems(t, sc, ids, rec, sends, nil)
	if !hasProblem(got, "STRAY CALL") {
		t.Errorf("the service got a call %q (reset: possibly delivered) that is no send of the store and no fire of the scenario: want STRAY CALL, got %q", strayKey, got)
	}
}

// Guards: every call of a send, answered or not, carries its campaign's
// App Key (WRONG APP CALL). A call of alpha's campaign made with beta's
// key that met a 504 (the service's own timeout: it may have pushed) may
// have reached beta's users, on beta's quota.
//
// Was: only accepted pushes were held to the campaign's app (WRONG APP);
// the call log kept each call's App-Key for the quota only, so such a call,
// retried on alpha's key and answered 200, passed.
func TestCallWithAnotherAppsKeyIsReported(t *testing.T) {
	sc, ids, rec, sends, _ := timedRecord()
	ok := rec.calls[sends[0].Key][0] // c000's 200, on alpha's key
	wrong := callResult{Status: 504, Began: 1, Ended: 2, App: "kb", At: ok.At.Add(-time.Millisecond)}
	ok.Began, ok.Ended = 3, 4
	rec.calls[sends[0].Key] = []callResult{wrong, ok}
	rec.counted["kb"] = append(rec.counted["kb"], wrong.At) // ledgered where it was made
	rec.counters["kb"] = emulator.Counters{Fault504: 1}
	got := plantedChaosProblems(t, sc, ids, rec, sends, nil)
	if !hasProblem(got, "WRONG APP CALL") {
		t.Errorf("c000 (app alpha, key ka) was called with beta's key kb (answered 504): want WRONG APP CALL, got %q", got)
	}
}

// Guards: a push reaches its campaign's platforms (WRONG PLATFORM), and
// carries its send's stored body as it is (PUSH NOT AS STORED). The
// campaign file asks for [ios, android]; a push that went out to ios only
// leaves every Android device of the audience without the notification.
//
// Was: the audience checks compared audience fields only, and the
// emulator's recipients ignore the platform, so "exactly its campaign's
// audience" passed and TestPipeline's checks reported nothing.
func TestPushNarrowedToOnePlatformIsReported(t *testing.T) {
	t.Run("against the campaign", func(t *testing.T) {
		sc, ids, rec, sends, _ := cleanRecordAt(time.Second)
		for i := range rec.pushes {
			rec.pushes[i].Request.Platform = []string{"ios", "android"} // as the campaign file (scenario_test.go)
		}
		resolveRecipients(sc, &rec)
		var clean problems
		pipelineChecks(&clean, sc, ids, rec, sends)
		if len(clean.list) != 0 {
			t.Fatalf("the unplanted baseline already has problems: %q", clean.list)
		}
		rec.pushes[0].Request.Platform = []string{"ios"} // c000's only push: Android users never notified
		var p problems
		pipelineChecks(&p, sc, ids, rec, sends)
		if !hasProblem(p.list, "WRONG PLATFORM") {
			t.Errorf("c000's fire was pushed to platform %v only, its campaign wants [ios android]: want WRONG PLATFORM, got %q",
				rec.pushes[0].Request.Platform, p.list)
		}
	})
	t.Run("against the stored body", func(t *testing.T) {
		sc, ids, rec, sends, _ := cleanRecordAt(time.Second)
		for i := range rec.pushes {
			rec.pushes[i].Request.Platform = []string{"ios", "android"}
			rec.pushes[i].Request.FromUserID = "system"
			body := rec.pushes[i].Request // what loadRuns reads from the store
			sends[i].Body = &body
		}
		resolveRecipients(sc, &rec)
		var clean problems
		pipelineChecks(&clean, sc, ids, rec, sends)
		if len(clean.list) != 0 {
			t.Fatalf("the unplanted baseline already has problems: %q", clean.list)
		}
		// beta's second chunk went out as stored but from another sender
		// (the platform is its campaign's: only the body tells).
		rec.pushes[2].Request.FromUserID = "someone-else"
		var p problems
		pipelineChecks(&p, sc, ids, rec, sends)
		if !hasProblem(p.list, "PUSH NOT AS STORED") {
			t.Errorf("send 3 was pushed with fromuserid %q, its stored body has %q: want PUSH NOT AS STORED, got %q",
				rec.pushes[2].Request.FromUserID, sends[2].Body.FromUserID, p.list)
		}
	})
}

// Guards: a run's status is what the state machine settles it to from its
// sends (docs/state-machine.md), and the e2e tests cancel nothing. A run
// stored cancelled though its push went out and its messageUID is
// recorded tells the operator the fire was cancelled (and refuses a retry
// of it); a run expired is one all of whose sends expired (deliver_within
// passed before they were attempted), never one with a send failed or
// unknown.
//
// Was: checkRunOutcomes accepted a cancelled run whatever its sends, and
// an expired one whenever none of its sends was sent; checkFires took it
// as settled, and TestChaos wants only each send sent or unknown.
func TestRunNobodyCancelledIsReported(t *testing.T) {
	plantedBaselineIsClean(t)
	for _, tt := range []struct {
		name  string
		plant func(rec *emuRecord, sends []sendRow) // the run of c000 (id 1), send 1
		run1  string
		want  string
	}{
		{"run stored cancelled though its send is sent", func(*emuRecord, []sendRow) {}, "cancelled", "RUN CANCELLED"},
		{"run stored expired though its send ended unknown", func(rec *emuRecord, sends []sendRow) {
			rec.pushes[0].Answer = "stall_sent" // processed, answer dropped
			sends[0].Status, sends[0].MessageUID = "unknown", ""
			rec.calls[sends[0].Key] = []callResult{{Dropped: true, Began: 1, Ended: 2}}
			rec.counters["ka"] = emulator.Counters{StallSent: 1}
		}, "expired", "RUN MISREPORTED"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, ids, rec, sends, fire := cleanRecordAt(time.Second)
			tt.plant(&rec, sends)
			runs := []runRow{{1, 1, fire, tt.run1}, {2, 2, fire, "done"}}
			if got := plantedChaosProblems(t, sc, ids, rec, sends, runs); !hasProblem(got, tt.want) {
				t.Errorf("run 1 is stored %s (the test cancelled nothing) while its only send is %s: want %s, got %q",
					tt.run1, sends[0].Status, tt.want, got)
			}
		})
	}
	t.Run("run expired with all its sends expired", func(t *testing.T) {
		_, _, _, sends, fire := cleanRecordAt(time.Second)
		sends[0].Status, sends[0].MessageUID = "expired", ""
		var p problems
		checkRunOutcomes(&p, []runRow{{1, 1, fire, "expired"}, {2, 2, fire, "done"}}, sends)
		if len(p.list) != 0 {
			t.Errorf("run 1 expired with its only send expired, as the state machine settles it: got %q", p.list)
		}
	})
}

// Guards: the chaos run exercises the client's fail-over (pushapi.Client:
// after a 5xx or a timeout on the host in use the next call goes to the
// other host; within a call it hops only when the first host did not take
// the request, nothing written or a 503). The emulator serves two hosts
// behind the one call log (serveEmulator), so every call is in the log on
// its host, held to its send, its app and the quota; the cluster's config
// gives every app both.
//
// Was: every app had one host, the emulator, and the chaos run never took
// the fail-over path. Given both, the first trial found the client hopping
// within a call after any 5xx: two calls that may count at the service
// under one quota reservation and one ledger attempt (CALL NOT COUNTED,
// QUOTA EXCEEDED on calls). The client now moves the next call instead.
func TestChaosExercisesFailOver(t *testing.T) {
	apps := []appSpec{{Name: "alpha", Key: "ka", Secret: "sa", Hourly: 2, Daily: 3, HourWindow: "rolling", DayWindow: "calendar", Timezone: "Asia/Shanghai"}}
	emu, err := emulator.New(emulator.Config{Seed: 1, Faults: emulator.Faults{Error500: 1},
		Apps: []emulator.AppConfig{{AppKey: "ka", Secret: "sa", Users: emuUsers(apps[0])}}})
	if err != nil {
		t.Fatal(err)
	}
	calls, urls := serveEmulator(t, emu, time.Now)
	c := &cluster{opts: clusterOptions{apps: apps, appTimeout: 2 * time.Second},
		redis: &testenv.RedisServer{Addr: "127.0.0.1:1"}, adminAddr: "127.0.0.1:2"}
	path := filepath.Join(t.TempDir(), "tagcast.yaml")
	if err := os.WriteFile(path, []byte(c.config(urls, "postgres://x@127.0.0.1:4/db")), 0o600); err != nil {
		t.Fatal(err)
	}
	// The config as the tagcast processes read it.
	cfg, err := config.Load(path, config.WithLookupEnv(func(k string) (string, bool) {
		if k == apps[0].secretEnv() {
			return apps[0].Secret, true
		}
		return "", false
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 1 || len(cfg.Apps[0].Hosts) != 2 {
		t.Fatalf("the config of hosts %v gives app alpha hosts %v: want both", urls, cfg.Apps)
	}
	// Two pushes through the client the config makes, every call answered
	// 500: the first goes to the primary and does not hop within the call
	// (a 500 may have counted at the service); the second goes to the
	// backup, the host the client moved to.
	client, err := pushapi.NewClient(cfg.Apps[0].ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	req := &pushapi.Request{Platform: campaignPlatform, FromUserID: "system", Audience: pushapi.Audience{Tag: []string{"all"}},
		Message:      &pushapi.Message{ObjectName: "RC:TxtMsg", Content: `{"content":"hop"}`},
		Notification: &pushapi.Notification{Alert: "hop"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		if _, err := client.Push(ctx, req); err == nil {
			t.Fatal("the emulator answers every call 500, yet the push succeeded")
		}
	}
	got := calls.snapshot()[sendKey(*req)]
	var hosts []string
	for _, x := range got {
		hosts = append(hosts, fmt.Sprintf("%s:%d", x.Host, x.Status))
	}
	if len(got) != 2 || got[0].Host != "primary" || got[1].Host != "backup" || got[0].RequestID == got[1].RequestID {
		t.Errorf("two calls answered 500: want the first on the primary and the next, a call of its own, on the backup; got %v (%v)", hosts, got)
	}
	if byHost, hops := hopsOf(emuRecord{calls: calls.snapshot()}); hops != 0 || byHost["primary"] != 1 || byHost["backup"] != 1 {
		t.Errorf("hopsOf: calls by host %v, %d hops; want one call on each host, no hop within a call", byHost, hops)
	}
	if configuredHosts != 2 {
		t.Errorf("the e2e cluster configures %d of the emulator's 2 hosts per app: the chaos run never fails over", configuredHosts)
	}
}
