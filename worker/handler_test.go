package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// pusherFunc adapts a function to worker.Pusher.
type pusherFunc func(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error)

func (f pusherFunc) Push(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
	return f(ctx, req)
}

// counting wraps a pusher: counts calls and runs after(n) after call n.
func counting(calls *atomic.Int32, after func(n int32)) func(worker.Pusher) worker.Pusher {
	return func(p worker.Pusher) worker.Pusher {
		return pusherFunc(func(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
			res, err := p.Push(ctx, req)
			n := calls.Add(1)
			if after != nil {
				after(n)
			}
			return res, err
		})
	}
}

func (e *env) run(id int64) (campaign.Run, []campaign.Send) {
	e.t.Helper()
	r, sends, err := e.store.GetRun(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r, sends
}

func snoozeOf(t *testing.T, err error) *worker.Snooze {
	t.Helper()
	var s *worker.Snooze
	if !errors.As(err, &s) {
		t.Fatalf("ProcessRun = %v, want a *worker.Snooze", err)
	}
	return s
}

func TestSentRecordsMessageUID(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	run, sends := e.run(ids[0])
	pushes := e.emu.PushesFor(testKey)
	if len(pushes) != 1 {
		t.Fatalf("emulator got %d pushes, want 1", len(pushes))
	}
	want := []string{"done", "sent", pushes[0].MessageUID, pushes[0].ID}
	got := []string{string(run.Status), string(sends[0].Status), sends[0].MessageUID, sends[0].PushID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("run status, send status, messageUID, push id (-want +got):\n%s", diff)
	}
	if sends[0].SentAt == nil || !sends[0].SentAt.Equal(t0) {
		t.Errorf("sent_at = %v, want %v", sends[0].SentAt, t0)
	}
	if st, _ := e.guard.Status(e.ctx, testApp); st.Hour.Used != 1 {
		t.Errorf("quota hour used = %d, want 1", st.Hour.Used)
	}
}

// TestRetryPaths drives each fault of the emulator through the handler.
func TestRetryPaths(t *testing.T) {
	t.Parallel()
	stall := emulator.Duration(3 * time.Second) // longer than the client's timeout
	tests := []struct {
		name        string
		faults      emulator.Faults
		clearAfter  int32 // clear the faults after this many calls (0: never)
		maxAttempts int
		wantStatus  campaign.SendStatus
		wantRun     campaign.RunStatus
		wantCode    int
		wantCalls   int32
		wantPushes  int // accepted by the emulator
	}{
		{"500 then sent", emulator.Faults{Error500: 1}, 1, 5, campaign.SendSent, campaign.RunDone, 200, 2, 1},
		{"504 then sent", emulator.Faults{Error504: 1}, 1, 5, campaign.SendSent, campaign.RunDone, 200, 2, 1},
		{"500 until attempts run out", emulator.Faults{Error500: 1}, 0, 3, campaign.SendFailed, campaign.RunFailed, 1000, 3, 0},
		{"stall, processed: unknown, not re-sent", emulator.Faults{StallSent: 1, StallFor: stall}, 0, 5, campaign.SendUnknown, campaign.RunFailed, 0, 1, 1},
		{"stall, dropped: unknown, not re-sent", emulator.Faults{StallDropped: 1, StallFor: stall}, 0, 5, campaign.SendUnknown, campaign.RunFailed, 0, 1, 0},
		{"reset after the body: unknown, not re-sent", emulator.Faults{Reset: 1}, 0, 5, campaign.SendUnknown, campaign.RunFailed, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			var e *env
			e = setup(t, envOpts{
				jump: true, clientTimeout: 500 * time.Millisecond,
				backoff: worker.Backoff{Base: time.Minute, Cap: time.Hour, MaxAttempts: tt.maxAttempts},
				wrap: counting(&calls, func(n int32) {
					if n == tt.clearAfter {
						_ = e.emu.SetFaults(testKey, nil)
					}
				}),
			})
			f := tt.faults
			if err := e.emu.SetFaults(testKey, &f); err != nil {
				t.Fatal(err)
			}
			ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
			if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
				t.Fatal(err)
			}
			run, sends := e.run(ids[0])
			s := sends[0]
			type res struct {
				Run      campaign.RunStatus
				Send     campaign.SendStatus
				Code     int
				Attempts int
				Calls    int32
				Pushes   int
			}
			want := res{tt.wantRun, tt.wantStatus, tt.wantCode, int(tt.wantCalls), tt.wantCalls, tt.wantPushes}
			got := res{run.Status, s.Status, s.LastCode, s.Attempts, calls.Load(), len(e.emu.PushesFor(testKey))}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s\nlast message: %s", diff, s.LastMessage)
			}
			if tt.wantStatus == campaign.SendFailed && !strings.Contains(s.LastMessage, "giving up after") {
				t.Errorf("last message %q does not say why it failed", s.LastMessage)
			}
			if tt.wantStatus == campaign.SendUnknown {
				// A later delivery of the task must not send it again.
				if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
					t.Fatal(err)
				}
				if calls.Load() != tt.wantCalls {
					t.Errorf("an unknown send was sent again: %d calls", calls.Load())
				}
			}
			if tt.clearAfter > 0 && s.SentAt != nil {
				// the retry waited for its backoff: full jitter 0.5 of the 1 min base
				if want := t0.Add(30 * time.Second); !s.SentAt.Equal(want) {
					t.Errorf("retry attempt began at %v, want %v (after the backoff)", s.SentAt, want)
				}
			}
		})
	}
}

func TestQuotaFullSnoozesWithoutSpendingAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 1, Daily: 3}})
	ids := fire(t, e.ctx, e.store, 2, body(), t0, t0, 0)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	s := snoozeOf(t, e.handler.ProcessRun(e.ctx, ids[1]))
	// rolling hour plus the guard's default 10 s margin
	if want := t0.Add(time.Hour + quota.DefaultMargin); !s.Until.Equal(want) || s.Reason != "quota" {
		t.Errorf("snooze until %v (%s), want %v (quota)", s.Until, s.Reason, want)
	}
	if s.Delay != 15*time.Minute {
		t.Errorf("snooze delay %s, want the 15 min cap", s.Delay)
	}
	_, sends := e.run(ids[1])
	if sends[0].Status != campaign.SendPending || sends[0].Attempts != 0 {
		t.Errorf("waiting send: %s with %d attempts, want pending with 0", sends[0].Status, sends[0].Attempts)
	}
	e.clock.Set(s.Until)
	if err := e.handler.ProcessRun(e.ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, sends := e.run(ids[1]); sends[0].Status != campaign.SendSent || sends[0].Attempts != 1 {
		t.Errorf("after the window opened: %s with %d attempts, want sent with 1", sends[0].Status, sends[0].Attempts)
	}
	if c := e.emu.Counters(testKey); c.Accepted != 2 || c.RateLimited != 0 {
		t.Errorf("emulator: %d accepted, %d rate limited; want 2 and 0", c.Accepted, c.RateLimited)
	}
}

// TestRateLimitedBlocksApp: another client used the key, so the service
// answers 429 although the guard had room.
func TestRateLimitedBlocksApp(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{emuQuota: &emulator.Quota{Hourly: 1, Daily: 10}})
	ids := fire(t, e.ctx, e.store, 2, body(), t0, t0, 0)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	s := snoozeOf(t, e.handler.ProcessRun(e.ctx, ids[1]))
	if want := t0.Add(time.Hour); s.Until.Before(want) {
		t.Errorf("snooze until %v, want at least the next boundary %v", s.Until, want)
	}
	_, sends := e.run(ids[1])
	if sends[0].Status != campaign.SendPending || sends[0].Attempts != 0 || sends[0].LastCode != 1008 {
		t.Errorf("rate limited send: %s, %d attempts, code %d; want pending, 0, 1008", sends[0].Status, sends[0].Attempts, sends[0].LastCode)
	}
	st, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if st.BlockedUntil.IsZero() {
		t.Error("the guard does not block the app after a 429")
	}
	e.clock.Set(s.Until)
	if err := e.handler.ProcessRun(e.ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if c := e.emu.Counters(testKey); c.Accepted != 2 || c.RateLimited != 1 {
		t.Errorf("emulator: %d accepted, %d rate limited; want 2 and 1", c.Accepted, c.RateLimited)
	}
}

func TestNeverEarly(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	at := t0.Add(10 * time.Minute)
	ids := fire(t, e.ctx, e.store, 1, body(), at, t0, 0)
	for _, now := range []time.Time{t0, at.Add(-time.Millisecond)} {
		e.clock.Set(now)
		s := snoozeOf(t, e.handler.ProcessRun(e.ctx, ids[0]))
		if !s.Until.Equal(at) || s.Reason != "scheduled" {
			t.Errorf("at %v: snooze until %v (%s), want %v (scheduled)", now, s.Until, s.Reason, at)
		}
	}
	if n := len(e.emu.PushesFor(testKey)); n != 0 {
		t.Fatalf("%d pushes before the scheduled instant", n)
	}
	e.clock.Set(at)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	pushes := e.emu.PushesFor(testKey)
	if len(pushes) != 1 || pushes[0].ReceivedAt.Before(at) {
		t.Fatalf("pushes %+v, want one at or after %v", pushes, at)
	}
}

func TestNotEnabledFailsAndReleasesQuota(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{pushDisabled: true})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	run, sends := e.run(ids[0])
	if run.Status != campaign.RunFailed || sends[0].Status != campaign.SendFailed || sends[0].LastCode != 1009 || sends[0].LastMessage == "" {
		t.Errorf("run %s, send %s code %d message %q; want failed, failed 1009 with a message", run.Status, sends[0].Status, sends[0].LastCode, sends[0].LastMessage)
	}
	st, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if st.Hour.Used != 0 || st.Day.Used != 0 {
		t.Errorf("quota used %d/%d after a refusal that sent nothing, want 0/0", st.Hour.Used, st.Day.Used)
	}
}

func TestCancelledCampaignStopsBeforeNextSend(t *testing.T) {
	t.Parallel()
	var e *env
	var calls atomic.Int32
	e = setup(t, envOpts{wrap: counting(&calls, func(n int32) {
		if n == 1 {
			run, _ := e.run(1)
			if _, err := e.store.Cancel(context.Background(), run.CampaignID, e.clock.Now()); err != nil {
				t.Error(err)
			}
		}
	})})
	b := body()
	b.Audience = pushapi.Audience{}
	for i := range 2500 {
		b.Audience.UserID = append(b.Audience.UserID, "u"+strings.Repeat("0", 3)+string(rune('a'+i%26))+itoa(i))
	}
	ids := fire(t, e.ctx, e.store, 1, b, t0, t0, 0)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	run, sends := e.run(ids[0])
	var got []campaign.SendStatus
	for _, s := range sends {
		got = append(got, s.Status)
	}
	if diff := cmp.Diff([]campaign.SendStatus{"sent", "cancelled", "cancelled"}, got); diff != "" || run.Status != campaign.RunCancelled {
		t.Errorf("run %s, sends (-want +got):\n%s", run.Status, diff)
	}
	if calls.Load() != 1 {
		t.Errorf("%d calls, want 1", calls.Load())
	}
}

// TestCancelDuringARetriedAttempt: the campaign is cancelled while its
// send is on the wire, and the attempt ends in the retry class with the next
// attempt due at once (the clock jumps): the retry must not go out for the
// cancelled campaign.
func TestCancelDuringARetriedAttempt(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var e *env
	e = setup(t, envOpts{
		jump: true,
		// The retry is due as soon as it is recorded.
		backoff: worker.Backoff{Base: time.Nanosecond, Cap: time.Nanosecond, MaxAttempts: 5},
		wrap: counting(&calls, func(n int32) {
			if n == 1 {
				_ = e.emu.SetFaults(testKey, nil)
				run, _ := e.run(1)
				if _, err := e.store.Cancel(context.Background(), run.CampaignID, e.clock.Now()); err != nil {
					t.Error(err)
				}
			}
		}),
	})
	if err := e.emu.SetFaults(testKey, &emulator.Faults{Error500: 1}); err != nil {
		t.Fatal(err)
	}
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	run, sends := e.run(ids[0])
	if calls.Load() != 1 || len(e.emu.PushesFor(testKey)) != 0 {
		t.Errorf("%d calls, %d pushes accepted; want the one failed call and no retry", calls.Load(), len(e.emu.PushesFor(testKey)))
	}
	if run.Status != campaign.RunCancelled || sends[0].Status == campaign.SendSent {
		t.Errorf("run %s, send %s after %d attempts; want the run cancelled and the send not sent", run.Status, sends[0].Status, sends[0].Attempts)
	}
}

// TestAnotherWorkersFinishedSendEndsTheRun: two workers on one run (say,
// after asynq recovered an orphaned task). The other worker holds send 1
// when this one reads the run, and records it sent while this one pushes
// send 0. This worker must then see the store, not its snapshot's live
// lease, and finish the run at once instead of waiting the lease out.
func TestAnotherWorkersFinishedSendEndsTheRun(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var e *env
	var other campaign.Send
	e = setup(t, envOpts{wrap: counting(&calls, func(n int32) {
		if n != 1 {
			return
		}
		if _, err := e.store.RecordOutcome(e.ctx, other.Token(), campaign.Outcome{Status: campaign.SendSent,
			PushID: "other", MessageUID: "OTHR-0000-0000-0001", At: e.clock.Now()}); err != nil {
			t.Error(err)
		}
	})})
	ids := fire(t, e.ctx, e.store, 1, twoSendBody(), t0, t0, 0)
	_, sends := e.run(ids[0])
	if len(sends) != 2 {
		t.Fatalf("%d sends, want 2", len(sends))
	}
	var err error
	if other, err = e.store.ClaimSend(e.ctx, sends[1].ID, t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	// The clock does not move: a wait for the other claim's lease would
	// come back as a snooze.
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatalf("ProcessRun = %v, want the run finished", err)
	}
	run, sends := e.run(ids[0])
	if run.Status != campaign.RunDone || sends[0].Status != campaign.SendSent || sends[1].MessageUID != "OTHR-0000-0000-0001" {
		t.Errorf("run %s, sends %s/%s; want done, both sent", run.Status, sends[0].Status, sends[1].Status)
	}
	if calls.Load() != 1 {
		t.Errorf("%d calls, want 1 (send 1 was the other worker's)", calls.Load())
	}
}

// TestTwoWorkersFinishingAtOnceEndTheRun: two handlers send the two sends
// of one run and record them at about the same moment, when an outcome may
// see the other send still in flight and leave the run open (whichever
// interleaving happens): the run must still end done, each send pushed once.
func TestTwoWorkersFinishingAtOnceEndTheRun(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	both := make(chan struct{})
	var pushing atomic.Int32
	e := setup(t, envOpts{wrap: func(p worker.Pusher) worker.Pusher {
		return pusherFunc(func(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
			res, err := p.Push(ctx, req)
			calls.Add(1)
			// Hold each answer until both pushes have been answered, so the
			// two outcomes are recorded together. A bounded wait: if the
			// handlers happen not to overlap, the test still checks the end.
			if pushing.Add(1) == 2 {
				close(both)
			}
			select {
			case <-both:
			case <-time.After(5 * time.Second):
			}
			return res, err
		})
	}})
	ids := fire(t, e.ctx, e.store, 1, twoSendBody(), t0, t0, 0)
	if _, sends := e.run(ids[0]); len(sends) != 2 {
		t.Fatalf("%d sends, want 2", len(sends))
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- e.handler.ProcessRun(e.ctx, ids[0]) }()
	}
	snoozed := false
	for range 2 {
		// The clock does not move: a handler left waiting on the other's
		// claim comes back as a snooze; anything else is a failure.
		var sn *worker.Snooze
		err := <-errs
		if err != nil && !errors.As(err, &sn) {
			t.Fatalf("ProcessRun = %v", err)
		}
		snoozed = snoozed || sn != nil
	}
	run, sends := e.run(ids[0])
	if run.Status != campaign.RunDone && (!snoozed || run.Status != campaign.RunRunning) {
		// A handler that returns nil has settled the run: nobody would
		// deliver its task again.
		t.Fatalf("run is %s after both handlers (snoozed: %v)", run.Status, snoozed)
	}
	if run.Status == campaign.RunRunning {
		// A snoozed handler's task comes back: that delivery finishes it.
		if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
			t.Fatalf("redelivery: ProcessRun = %v, want the run finished", err)
		}
		run, sends = e.run(ids[0])
	}
	if run.Status != campaign.RunDone || sends[0].Status != campaign.SendSent || sends[1].Status != campaign.SendSent {
		t.Errorf("run %s, sends %s/%s; want done, both sent", run.Status, sends[0].Status, sends[1].Status)
	}
	if calls.Load() != 2 {
		t.Errorf("%d pushes, want 2 (one per send)", calls.Load())
	}
}

// twoSendBody is a push to 1,500 user ids: a run of two sends (the service
// takes at most 1,000 a call).
func twoSendBody() pushapi.Request {
	b := body()
	b.Audience = pushapi.Audience{}
	for i := range 1500 {
		b.Audience.UserID = append(b.Audience.UserID, "u"+itoa(i))
	}
	return b
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestExpiredRunSendsNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, time.Hour)
	e.clock.Set(t0.Add(2 * time.Hour))
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	run, sends := e.run(ids[0])
	if run.Status != campaign.RunExpired || sends[0].Status != campaign.SendExpired {
		t.Errorf("run %s send %s, want expired expired", run.Status, sends[0].Status)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 0 {
		t.Errorf("%d pushes for an expired run", n)
	}
}

// TestDeadClaimBecomesUnknown: a worker claimed a send (its attempt begun)
// and died; the next delivery of the run resolves the send to unknown once
// its lease lapsed, never sends it again, and sends the rest.
func TestDeadClaimBecomesUnknown(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{jump: true})
	ids := fire(t, e.ctx, e.store, 1, twoSendBody(), t0, t0, 0)
	_, sends := e.run(ids[0])
	if _, err := e.store.ClaimSend(e.ctx, sends[0].ID, t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	run, sends := e.run(ids[0])
	if run.Status != campaign.RunPartiallyFailed || sends[0].Status != campaign.SendUnknown || sends[1].Status != campaign.SendSent {
		t.Errorf("run %s sends %s %s; want partially_failed, unknown, sent", run.Status, sends[0].Status, sends[1].Status)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 1 {
		t.Errorf("%d pushes, want 1 (the dead worker's send is not re-sent)", n)
	}
}

func TestSendNow(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 1, Daily: 3}})
	p := worker.GuardedPusher{Guard: e.guard, Pusher: e.client, App: testApp}
	b := body()
	if _, err := p.Push(e.ctx, &b); err != nil {
		t.Fatal(err)
	}
	_, err := p.Push(e.ctx, &b)
	if !errors.Is(err, quota.ErrNoRoom) {
		t.Fatalf("second push = %v, want quota.ErrNoRoom", err)
	}
	bad := body()
	bad.Platform = nil
	var ve *pushapi.ValidationError
	if _, err := worker.SendNow(e.ctx, e.guard, e.store, e.client, testApp, &bad); !errors.As(err, &ve) {
		t.Fatalf("invalid body = %v, want a *pushapi.ValidationError", err)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 1 {
		t.Errorf("%d pushes, want 1", n)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := worker.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, envOpts{metrics: m, policy: quota.Policy{Hourly: 2, Daily: 3}})
	ids := fire(t, e.ctx, e.store, 1, body(), t0.Add(-1500*time.Millisecond), t0, 0)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			values[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
		switch mf.GetName() {
		case "tagcast_worker_fire_lag_seconds":
			if h := mf.GetMetric()[0].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 1.5 {
				t.Errorf("fire lag: %d samples, sum %v; want 1 sample of 1.5 s", h.GetSampleCount(), h.GetSampleSum())
			}
		case "tagcast_pushapi_request_duration_seconds":
			if l := mf.GetMetric()[0].GetLabel(); l[0].GetValue() != "200" || !strings.HasPrefix(l[1].GetValue(), "http://127.0.0.1:") {
				t.Errorf("latency labels %v, want code 200 and the emulator's host", l)
			}
		}
	}
	for key, want := range map[string]float64{
		"tagcast_worker_sends_total,app=main,outcome=sent": 1,
		"tagcast_quota_remaining,app=main,window=hour":     1,
		"tagcast_quota_remaining,app=main,window=day":      2,
	} {
		if got, ok := values[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
}
