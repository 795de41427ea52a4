package worker_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// A slot's Redis score is its instant rounded up to the millisecond, and
// the ledger's sent_at must give the same score when Redis loses its state:
// reservations are whole microseconds, as the store keeps them. They used
// to be nanoseconds, which the store truncated: for an instant in the first
// microsecond after a whole millisecond the rebuilt slot scored 1 ms lower
// and reopened before its hold ended (found by a review).
func TestRebuiltSlotScoresAsTheLiveOne(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 1, Daily: 10, HourWindow: quota.HourRolling}})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, time.Hour)
	at := t0.Add(time.Millisecond + 400*time.Nanosecond)
	e.clock.Set(at)
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	_, sends := e.run(ids[0])
	if sends[0].Status != campaign.SendSent || sends[0].SentAt == nil {
		t.Fatalf("send %s, want sent", sends[0].Status)
	}
	at = *sends[0].SentAt // the slot's instant, as the ledger keeps it
	hold := time.Hour + quota.DefaultMargin
	live, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	// Redis loses the app's state (a flush, a restart without persistence).
	for _, k := range []string{"entries", "initialized"} {
		e.rdb.Del(e.ctx, quota.DefaultPrefix+"{"+testApp+"}:"+k)
	}
	rebuilt, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("slot at %s: live next opening %s, rebuilt %s, hold ends %s", at.Format(time.RFC3339Nano),
		live.NextOpening.UTC().Format(time.RFC3339Nano), rebuilt.NextOpening.UTC().Format(time.RFC3339Nano), at.Add(hold).Format(time.RFC3339Nano))
	if !rebuilt.Rebuilt || !rebuilt.NextOpening.Equal(live.NextOpening) {
		t.Errorf("rebuilt=%v: the windows rebuilt from the ledger open at %s, the live ones at %s: the ledger does not keep the exact instant",
			rebuilt.Rebuilt, rebuilt.NextOpening.UTC().Format(time.RFC3339Nano), live.NextOpening.UTC().Format(time.RFC3339Nano))
	}
	if rebuilt.NextOpening.Before(at.Add(hold)) {
		e.clock.Set(rebuilt.NextOpening)
		if res, err := e.guard.Reserve(e.ctx, testApp); err == nil {
			t.Errorf("hourly limit 1: a second slot granted at %s, %s after the first (< its hold %s): early",
				res.At.UTC().Format(time.RFC3339Nano), res.At.Sub(at), hold)
		}
	}
}

// delay moves a fake clock on by by: at every call, or (once) at the first
// only. The slow* wrappers below use it to stand for a slow Redis, a slow
// store or a paused process at one step of an attempt.
type delay struct {
	clock      *fakeClock
	by         time.Duration
	once, done bool
}

func (d *delay) pass() {
	if d.once && d.done {
		return
	}
	d.done = true
	d.clock.Set(d.clock.Now().Add(d.by))
}

// slowGuard answers ReserveFor, and slowHeld answers Held, after the delay.
type slowGuard struct {
	worker.Guard
	*delay
}

func (g slowGuard) ReserveFor(ctx context.Context, app string, w quota.Waiter) (quota.Reservation, error) {
	res, err := g.Guard.ReserveFor(ctx, app, w)
	g.pass()
	return res, err
}

type slowHeld struct {
	worker.Guard
	*delay
}

func (g slowHeld) Held(ctx context.Context, res quota.Reservation) (bool, error) {
	ok, err := g.Guard.Held(ctx, res)
	g.pass()
	return ok, err
}

// slowClaims commit after the delay (within StoreTimeout).
type slowClaims struct {
	worker.Store
	*delay
}

func (s slowClaims) ClaimSend(ctx context.Context, id int64, now time.Time, lease time.Duration) (campaign.Send, error) {
	s.pass()
	return s.Store.ClaimSend(ctx, id, now, lease)
}

func (s slowClaims) ClaimFirstSend(ctx context.Context, runID int64, app string, now time.Time, lease time.Duration) (campaign.Send, *time.Time, bool, error) {
	s.pass()
	return s.Store.ClaimFirstSend(ctx, runID, app, now, lease)
}

// marginEnv is an env whose hourly limit is 1 (rolling), on the service
// too, and a guard with the margin tagcast derives for a 10 s timeout.
func marginEnv(t *testing.T) (*env, *quota.Guard) {
	t.Helper()
	pol := quota.Policy{Hourly: 1, Daily: 10, HourWindow: quota.HourRolling}
	e := setup(t, envOpts{policy: pol, clientTimeout: 10 * time.Second,
		emuQuota: &emulator.Quota{Hourly: 1, Daily: 10, HourWindow: "rolling", DayWindow: "calendar", Timezone: "Asia/Shanghai"}})
	const margin = 10*time.Second + config.BeforeCall // cmd/tagcast quotaMargin for timeout 10 s
	g, err := quota.New(quota.Options{Client: e.rdb, Ledger: e.store, Apps: map[string]quota.Policy{testApp: pol}, Now: e.clock.Now, Margin: margin, Prefix: "margin:"})
	if err != nil {
		t.Fatal(err)
	}
	return e, g
}

// refusingCall is a push call that takes d (less than the client's
// timeout) and is refused by the service (1002: failed, permanent); while it
// is on the wire the reconciler runs.
type refusingCall struct {
	e *env
	d time.Duration
}

func (p refusingCall) Push(ctx context.Context, _ *pushapi.Request) (*pushapi.PushResponse, error) {
	p.e.clock.Set(p.e.clock.Now().Add(p.d))
	if _, err := p.e.store.ResolveStaleSends(ctx, p.e.clock.Now()); err != nil {
		return nil, err
	}
	return nil, &pushapi.Error{Path: "/push.json", HTTPStatus: http.StatusBadRequest, Code: pushapi.CodeParam, Message: "bad"}
}

// The lease runs from the reservation's instant, not the claim's commit,
// and a claim may come up to the slot's UseBy after it. worker.lease must
// cover that way to the call (config.BeforeCall), the call and the
// recording (config rule: lease > BeforeCall + timeout + store_timeout). A
// first version of the rule left BeforeCall out and accepted timeout 2 s,
// store_timeout 0.5 s, lease 2.6 s: a reservation answered late and a slow
// claim, each within its bound, then let the lease lapse during a call
// within its timeout, and the service's definitive refusal could not be
// recorded (found by a review). Here the smallest lease the rule accepts
// outlasts the same delays at their limits.
func TestSmallestValidLeaseOutlastsTheWayToTheCall(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{}) // client timeout 2 s
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, time.Hour)
	// The smallest lease worker.lease's rule accepts for timeout 2 s and
	// store_timeout 0.5 s.
	lease := config.BeforeCall + 2*time.Second + 500*time.Millisecond + time.Millisecond
	h, err := worker.NewHandler(worker.Deps{
		Store:   slowClaims{e.store, &delay{clock: e.clock, by: 1900 * time.Millisecond}},
		Guard:   slowGuard{e.guard, &delay{clock: e.clock, by: 2 * time.Second}},
		Pushers: map[string]worker.Pusher{testApp: refusingCall{e: e, d: 1900 * time.Millisecond}},
		Clock:   e.clock, Logger: testLogger(t), Jitter: func() float64 { return 0.5 },
	}, worker.Config{Lease: lease, StoreTimeout: 500 * time.Millisecond, AttemptBudget: config.BeforeCall + 2*time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = h.ProcessRun(e.ctx, ids[0])
	run, sends := e.run(ids[0])
	if sends[0].Status != campaign.SendFailed {
		t.Errorf("the service refused the push (1002) within the call's timeout; send %s (run %s, ProcessRun: %v), want failed: the lease (from the reservation instant %s) lapsed at %s during the call",
			sends[0].Status, run.Status, err, t0.Format(time.RFC3339Nano), t0.Add(lease).Format(time.RFC3339Nano))
	}
}

// lateArrival is a push call whose request reaches the service d into the
// call (a fail-over hop after a first host that never took the request,
// a slow write), within the client's timeout.
type lateArrival struct {
	worker.Pusher
	clock *fakeClock
	d     time.Duration
}

func (p lateArrival) Push(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
	p.clock.Set(p.clock.Now().Add(p.d))
	return p.Pusher.Push(ctx, req)
}

// The guard's margin (cmd/tagcast quotaMargin: timeout + config.BeforeCall,
// at least 10 s) covers a push's way to the service only if the slot's
// UseBy stays within BeforeCall. UseBy used to be half the margin (7.5 s
// for the default 10 s timeout): a reservation answered 7.4 s late was
// still used, its push reached the service 7.4 + 9.9 s after its slot,
// past the 15 s margin, and the next slot the guard granted met a window
// the service still counted full (a 429). UseBy is now at most
// quota.MaxUseBy (4 s): that reservation is given back and taken again.
func TestMarginCoversALateReservationAndTheCall(t *testing.T) {
	t.Parallel()
	e, g := marginEnv(t)
	const margin = 10*time.Second + config.BeforeCall
	ids := fire(t, e.ctx, e.store, 2, body(), t0, t0, 48*time.Hour)
	h1, err := worker.NewHandler(worker.Deps{
		Store: e.store, Guard: slowGuard{g, &delay{clock: e.clock, by: 7400 * time.Millisecond, once: true}},
		Pushers: map[string]worker.Pusher{testApp: lateArrival{Pusher: e.client, clock: e.clock, d: 9900 * time.Millisecond}},
		Clock:   e.clock, Logger: testLogger(t), Jitter: func() float64 { return 0.5 },
	}, worker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := h1.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
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
		t.Errorf("the service answered 429 %d time(s): first push reserved at %s reached it at %s; the guard opened the next slot at %s (margin %s, UseBy %s after the slot)",
			c.RateLimited, t0.Format(time.RFC3339Nano), t0.Add(17300*time.Millisecond).Format(time.RFC3339Nano), st.NextOpening.UTC().Format(time.RFC3339Nano), margin, margin/2)
	}
}
