package worker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// Was: a 429/1008 kept its quota slot in the guard although the service
// refused the call and counted nothing.
//
// The service answers an app whose push service is not enabled 430/1009,
// then 429/1008 (push-api-facts.md); such calls never use the real quota.
// decide released the slot of a 1009 (pushapi.Error.NotSent) but not of a
// 1008, so the refused call stayed counted in the guard's windows (Redis
// only: the pending record is not ledgered) for the rest of its day: with
// the default quota (3 a day), a third of the day lost to a call that sent
// nothing. The slot now goes back once the app is blocked.
//
// Here: at 09:00 (Shanghai) the app is not enabled; three runs get 1009,
// 1009, 1008 (the app is blocked an hour, as it should be). The operator
// enables the service at 09:30. The 1008 run and two runs fired at 10:00
// are three pushes, exactly the service's day (3) and within its hour (2):
// the third is due at the next hourly opening, about 11:00. All three are
// sent by 12:00 Shanghai; the third waited for the next day and, with
// deliver_within 2h, expired unsent although the service had room.
func TestRefused1008DoesNotEatTheDaysQuota(t *testing.T) {
	t.Parallel()
	q := quota.Policy{Hourly: 2, Daily: 3}
	e := setup(t, envOpts{policy: q, emuQuota: &emulator.Quota{Hourly: 2, Daily: 3}, pushDisabled: true})

	disabled := fire(t, e.ctx, e.store, 3, body(), t0, t0, 0)
	for _, id := range disabled[:2] {
		if err := e.handler.ProcessRun(e.ctx, id); err != nil {
			t.Fatalf("run %d while not enabled: %v, want it failed (1009)", id, err)
		}
	}
	blocked := disabled[2]
	if s := snoozeOf(t, e.handler.ProcessRun(e.ctx, blocked)); s.Reason != "quota" {
		t.Fatalf("run %d after two 1009s: snooze %s, want one for the quota (1008 block)", blocked, s.Reason)
	}
	if _, sends := e.run(blocked); sends[0].Status != campaign.SendPending || sends[0].LastCode != 1008 {
		t.Fatalf("send after the 1008: %s code %d, want pending 1008", sends[0].Status, sends[0].LastCode)
	}

	// The operator enables the push service at 09:30.
	e.clock.Set(t0.Add(30 * time.Minute))
	off := false
	if err := e.emu.UpdateApp(testKey, emulator.AppPatch{PushDisabled: &off}); err != nil {
		t.Fatal(err)
	}
	fresh := fire(t, e.ctx, e.store, 2, body(), t0.Add(time.Hour), t0.Add(30*time.Minute), 2*time.Hour)
	runs := append([]int64{blocked}, fresh...)

	deadline := t0.Add(3 * time.Hour) // 12:00 Shanghai
	e.clock.Set(t0.Add(time.Hour))
	for step := 0; step < 20 && e.clock.Now().Before(deadline); step++ {
		var next time.Time
		for _, id := range runs {
			var s *worker.Snooze
			if err := e.handler.ProcessRun(e.ctx, id); errors.As(err, &s) {
				if next.IsZero() || s.Until.Before(next) {
					next = s.Until
				}
			} else if err != nil {
				t.Fatalf("run %d: %v", id, err)
			}
		}
		if next.IsZero() {
			break
		}
		e.clock.Set(next)
	}
	sent := 0
	for _, id := range runs {
		run, sends := e.run(id)
		if sends[0].Status == campaign.SendSent {
			sent++
		} else {
			t.Logf("run %d: %s, send %s (code %d)", id, run.Status, sends[0].Status, sends[0].LastCode)
		}
	}
	st, _ := e.guard.Status(e.ctx, testApp)
	if sent != 3 {
		t.Errorf("%d of 3 runs sent by 12:00 Shanghai (service accepted %d of its 3 a day), want 3: the guard counts %d of the day "+
			"(its next opening %v), one of them the 1008 the service refused without counting",
			sent, e.emu.Counters(testKey).Accepted, st.Day.Used, st.NextOpening)
	}
}

// A direct push (`tagcast push send`) answered 429/1008 blocks the app,
// gives its slot back and leaves the quota ledger: the service counted
// nothing. It was recorded in the ledger as possibly sent, and a rebuild
// counted it for its day.
func TestSendNowGivesA429sSlotBack(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 5, Daily: 5}, emuQuota: &emulator.Quota{Hourly: 2, Daily: 3}, pushDisabled: true})
	p := worker.GuardedPusher{Guard: e.guard, Ledger: e.store, Pusher: e.client, App: testApp}
	b := body()
	for _, want := range []int{1009, 1009, 1008} {
		_, err := p.Push(e.ctx, &b)
		var pe *pushapi.Error
		if !errors.As(err, &pe) || pe.Code != want {
			t.Fatalf("direct push: %v; want code %d", err, want)
		}
	}
	if n := ledgerCount(t, e); n != 0 {
		t.Errorf("ledger counts %d pushes after three refused without sending, want 0", n)
	}
	e.hourUsed(0, "pushes refused without sending (1009, 1008) give their slots back")
	if st, err := e.guard.Status(e.ctx, testApp); err != nil || st.BlockedUntil.IsZero() {
		t.Errorf("after the 1008: status %+v, %v; want the app blocked", st, err)
	}
}

// A plain 429 (one host, nothing went out) heard after the claim's lease
// lapsed: the send the reconciler settled unknown goes back to pending and
// leaves the ledger, like a claim never called, and is sent once after the
// block. (A 429 after a fail-over stays unknown:
// TestLate429AfterAFailOverStaysUnknown.)
func TestLatePlain429GoesBackToPending(t *testing.T) {
	t.Parallel()
	var e *env
	e = setup(t, envOpts{wrap: func(p worker.Pusher) worker.Pusher { return &lateRateLimited{inner: p, e: &e, plain: true} }})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	e.clock.Set(t0)
	err := e.handler.ProcessRun(e.ctx, ids[0])
	var sn *worker.Snooze
	if err != nil && !errors.As(err, &sn) {
		t.Fatalf("ProcessRun: %v", err)
	}
	_, sends := e.run(ids[0])
	if sends[0].Status != campaign.SendPending || sends[0].Attempts != 0 {
		t.Fatalf("send %s, %d attempts after a 429 heard late; want pending, the attempt not spent", sends[0].Status, sends[0].Attempts)
	}
	if l, err := e.store.SentBetween(e.ctx, testApp, t0.Add(-time.Hour), t0.Add(48*time.Hour)); err != nil || len(l) != 0 {
		t.Errorf("ledger %v (err %v): a 429 sent nothing, want no entry", l, err)
	}
	if sn == nil {
		t.Fatal("no snooze after the 429: the app is not blocked")
	}
	e.clock.Set(sn.Until.Add(time.Second))
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatalf("ProcessRun after the block: %v", err)
	}
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendSent {
		t.Errorf("send %s after the block, want sent", sends[0].Status)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 1 {
		t.Errorf("%d pushes of one send, want 1", n)
	}
}
