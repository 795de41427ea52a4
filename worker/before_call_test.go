package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// callClock records the simulated instant each call starts at.
type callClock struct {
	worker.Pusher
	clock  *fakeClock
	starts *[]time.Time
}

func (p callClock) Push(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
	*p.starts = append(*p.starts, p.clock.Now())
	return p.Pusher.Push(ctx, req)
}

// The margin (timeout + config.BeforeCall) assumes a call starts at most
// BeforeCall (5 s) after its slot: UseBy (4 s) "and the checks after it".
// The handler used to check UseBy right after the claim only, then call
// Guard.Held (a Redis round trip) and the service without looking at the
// clock again: a claim 3.9 s late (within UseBy) and a Held answered 3 s
// later started the call 6.9 s after the slot, a request reaching the
// service 9.9 s into the call landed past the 15 s margin, and the next
// slot met a window the service still counted full: a 429 (found by a
// review). The handler now looks at the clock last, just before the call,
// and gives such a slot back; the push goes out on a fresh one.
func TestNoCallBeginsPastTheSlotsUseBy(t *testing.T) {
	t.Parallel()
	e, g := marginEnv(t)
	ids := fire(t, e.ctx, e.store, 2, body(), t0, t0, 48*time.Hour)
	var starts []time.Time
	h1, err := worker.NewHandler(worker.Deps{
		Store: slowClaims{e.store, &delay{clock: e.clock, by: 3900 * time.Millisecond, once: true}},
		Guard: slowHeld{g, &delay{clock: e.clock, by: 3 * time.Second, once: true}},
		Pushers: map[string]worker.Pusher{testApp: callClock{
			Pusher: lateArrival{Pusher: e.client, clock: e.clock, d: 9900 * time.Millisecond}, clock: e.clock, starts: &starts}},
		Clock: e.clock, Logger: testLogger(t), Jitter: func() float64 { return 0.5 },
	}, worker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := h1.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	_, sends := e.run(ids[0])
	if len(starts) == 1 && sends[0].SentAt != nil {
		if gap := starts[0].Sub(*sends[0].SentAt); gap > 5*time.Second {
			t.Errorf("call started %s after its slot (%s), more than config.BeforeCall 5s the margin allows", gap, sends[0].SentAt.Format(time.RFC3339Nano))
		}
	}
	st, err := g.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(st.NextOpening)
	h2, err := worker.NewHandler(worker.Deps{
		Store: e.store, Guard: g, Pushers: map[string]worker.Pusher{testApp: e.client},
		Clock: e.clock, Logger: testLogger(t), Jitter: func() float64 { return 0.5 },
	}, worker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_ = h2.ProcessRun(e.ctx, ids[1])
	if n := len(e.emu.PushesFor(testKey)); n != 2 {
		t.Errorf("%d pushes, want both runs sent", n)
	}
	if c := e.emu.Counters(testKey); c.RateLimited != 0 {
		t.Errorf("the service answered 429 %d time(s): the guard opened the next slot at %s", c.RateLimited, st.NextOpening.UTC().Format(time.RFC3339Nano))
	}
}

// slowLedger is the store's DirectLedger whose entry commits after the
// delay (a slow or failing-over PostgreSQL).
type slowLedger struct {
	worker.DirectLedger
	*delay
}

func (l slowLedger) BeginDirectAttempt(ctx context.Context, app string, at time.Time) (int64, error) {
	id, err := l.DirectLedger.BeginDirectAttempt(ctx, app, at)
	l.pass()
	return id, err
}

// `tagcast push send` (worker.SendNow) used to ignore its reservation's
// UseBy: between the reservation and the call stand a store write
// (BeginDirectAttempt) and Guard.Held, and a push was made however long
// they took; with the ledger entry committing 8 s after the slot the push
// reached the service past the 15 s margin, and the next push send got a
// 429 (found by a review). Guard.Held is now false past UseBy, so the entry
// and the slot go back.
func TestPushSendGivesBackASlotPastUseBy(t *testing.T) {
	t.Parallel()
	e, g := marginEnv(t)
	var starts []time.Time
	req := body()
	req.Notification.Alert = "direct 1"
	first := callClock{Pusher: lateArrival{Pusher: e.client, clock: e.clock, d: 9900 * time.Millisecond}, clock: e.clock, starts: &starts}
	if _, err := worker.SendNow(e.ctx, g, slowLedger{e.store, &delay{clock: e.clock, by: 8 * time.Second}}, first, testApp, &req); err != nil {
		t.Logf("first push send: %v", err)
	}
	if len(starts) == 1 {
		t.Errorf("push send called the service at %s, %s after its slot at %s (UseBy %s after it)",
			starts[0].Format(time.RFC3339Nano), starts[0].Sub(t0), t0.Format(time.RFC3339Nano), quota.MaxUseBy)
	}
	st, err := g.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(st.NextOpening)
	req2 := body()
	req2.Notification.Alert = "direct 2"
	_, err = worker.SendNow(e.ctx, g, e.store, e.client, testApp, &req2)
	if c := e.emu.Counters(testKey); c.RateLimited != 0 {
		t.Errorf("second push send at the guard's next opening %s: the service answered 429 (%v)", st.NextOpening.UTC().Format(time.RFC3339Nano), err)
	}
}

// A claim is judged at its slot's instant (res.At), not at the instant it
// commits: a run whose deliver_by passed while the claim was on its way (up
// to UseBy, 4 s) used to be pushed after its deliver_by (found by a
// review). The handler looks at deliver_by again, on its clock, just before
// the call: the claim goes back and the run expires.
func TestSlowClaimPastDeliverBySendsNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, time.Hour)
	run, _ := e.run(ids[0])
	e.clock.Set(run.DeliverBy.Add(-time.Second)) // due, 1 s before deliver_by
	var starts []time.Time
	h := slowClaimHandler(t, e, &delay{clock: e.clock, by: 3 * time.Second}, &starts)
	_ = h.ProcessRun(e.ctx, ids[0])
	if len(starts) > 0 && !starts[0].Before(*run.DeliverBy) {
		t.Errorf("pushed at %s, %s past the run's deliver_by %s", starts[0].Format(time.RFC3339Nano), starts[0].Sub(*run.DeliverBy), run.DeliverBy.Format(time.RFC3339Nano))
	}
}

// The same for a run's first send claimed from the task's hints, where the
// worker has not read the run: the claim returns the run's deliver_by and
// the last look before the call checks it. It used to know none, and a run
// with a short deliver_within whose deliver_by passed during a slow first
// claim was pushed up to UseBy (4 s) after it.
func TestSlowFirstClaimPastDeliverBySendsNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 3*time.Second)
	run, _ := e.run(ids[0])
	e.clock.Set(t0.Add(2 * time.Second)) // due, 1 s before deliver_by
	var starts []time.Time
	h := slowClaimHandler(t, e, &delay{clock: e.clock, by: 3 * time.Second, once: true}, &starts)
	_ = h.ProcessTask(e.ctx, hintedTask(t, ids[0], testApp, t0))
	if len(starts) > 0 && !starts[0].Before(*run.DeliverBy) {
		t.Errorf("pushed at %s, %s past the run's deliver_by %s", starts[0].Format(time.RFC3339Nano), starts[0].Sub(*run.DeliverBy), run.DeliverBy.Format(time.RFC3339Nano))
	}
	after, sends := e.run(ids[0])
	if after.Status != campaign.RunExpired || sends[0].Status != campaign.SendExpired {
		t.Errorf("run %s, send %s; want expired, expired", after.Status, sends[0].Status)
	}
}

// slowClaimHandler is a handler on e whose claims commit after d and whose
// calls record their instants in starts.
func slowClaimHandler(t *testing.T, e *env, d *delay, starts *[]time.Time) *worker.Handler {
	t.Helper()
	h, err := worker.NewHandler(worker.Deps{
		Store:   slowClaims{e.store, d},
		Guard:   e.guard,
		Pushers: map[string]worker.Pusher{testApp: callClock{Pusher: e.client, clock: e.clock, starts: starts}},
		Clock:   e.clock, Logger: testLogger(t), Jitter: func() float64 { return 0.5 },
	}, worker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// reconcilingHeld answers Held, then (once) stands for a pause of jump:
// the clock moves on and the reconciler settles the sends whose lease
// lapsed meanwhile.
type reconcilingHeld struct {
	worker.Guard
	e    *env
	jump time.Duration
	done bool
}

func (g *reconcilingHeld) Held(ctx context.Context, res quota.Reservation) (bool, error) {
	ok, err := g.Guard.Held(ctx, res)
	if !g.done {
		g.done = true
		g.e.clock.Set(g.e.clock.Now().Add(g.jump))
		if _, rerr := g.e.store.ResolveStaleSends(ctx, g.e.clock.Now()); rerr != nil {
			return false, rerr
		}
	}
	return ok, err
}

// A worker paused past its claim's lease before the call: the reconciler
// settled the send unknown, and the worker, finding its slot too old,
// does not call. Its give-back now puts the send back to pending (the
// claim is still the last, and no push went out under it) and the run is
// sent on a fresh slot. The give-back used to be refused: the send stayed
// unknown, a push never sent waiting for an operator's retry --unknown.
func TestPausePastTheLeaseGivesTheSendBack(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, time.Hour)
	e.clock.Set(t0)
	h, err := worker.NewHandler(worker.Deps{
		Store:   e.store,
		Guard:   &reconcilingHeld{Guard: e.guard, e: e, jump: 3 * time.Minute},
		Pushers: map[string]worker.Pusher{testApp: e.client},
		Clock:   e.clock, Logger: testLogger(t), Jitter: func() float64 { return 0.5 },
	}, worker.Config{Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatalf("ProcessRun: %v", err)
	}
	run, sends := e.run(ids[0])
	if n := len(e.emu.PushesFor(testKey)); n != 1 {
		t.Errorf("%d pushes, want 1", n)
	}
	if run.Status != campaign.RunDone || sends[0].Status != campaign.SendSent || sends[0].Attempts != 1 || sends[0].MessageUID == "" {
		t.Errorf("run %s, send %s after %d attempts (messageUID %q); want done, sent on its one attempt", run.Status, sends[0].Status, sends[0].Attempts, sends[0].MessageUID)
	}
}
