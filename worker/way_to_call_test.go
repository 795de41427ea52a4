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

// slowGuard answers Reserve after the clock moved on (a slow Redis, a GC
// pause), within the guard's staleAfter / the slot's UseBy.
type slowGuard struct {
	worker.Guard
	clock *fakeClock
	by    time.Duration
}

func (g slowGuard) Reserve(ctx context.Context, app string) (quota.Reservation, error) {
	res, err := g.Guard.Reserve(ctx, app)
	g.clock.Set(g.clock.Now().Add(g.by))
	return res, err
}

// onceSlowGuard is slowGuard for its first reservation only.
type onceSlowGuard struct {
	worker.Guard
	clock *fakeClock
	by    time.Duration
	done  bool
}

func (g *onceSlowGuard) Reserve(ctx context.Context, app string) (quota.Reservation, error) {
	res, err := g.Guard.Reserve(ctx, app)
	if !g.done {
		g.done = true
		g.clock.Set(g.clock.Now().Add(g.by))
	}
	return res, err
}

// slowClaims commit after the clock moved on (within StoreTimeout).
type slowClaims struct {
	worker.Store
	clock *fakeClock
	by    time.Duration
}

func (s slowClaims) ClaimSend(ctx context.Context, id int64, now time.Time, lease time.Duration) (campaign.Send, error) {
	s.clock.Set(s.clock.Now().Add(s.by))
	return s.Store.ClaimSend(ctx, id, now, lease)
}

func (s slowClaims) ClaimFirstSend(ctx context.Context, runID int64, app string, now time.Time, lease time.Duration) (campaign.Send, bool, error) {
	s.clock.Set(s.clock.Now().Add(s.by))
	return s.Store.ClaimFirstSend(ctx, runID, app, now, lease)
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
		Store:   slowClaims{Store: e.store, clock: e.clock, by: 1900 * time.Millisecond},
		Guard:   slowGuard{Guard: e.guard, clock: e.clock, by: 2 * time.Second},
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
	pol := quota.Policy{Hourly: 1, Daily: 10, HourWindow: quota.HourRolling}
	e := setup(t, envOpts{policy: pol, clientTimeout: 10 * time.Second,
		emuQuota: &emulator.Quota{Hourly: 1, Daily: 10, HourWindow: "rolling", DayWindow: "calendar", Timezone: "Asia/Shanghai"}})
	const margin = 10*time.Second + 5*time.Second // quotaMargin for timeout 10 s
	g, err := quota.New(quota.Options{Client: e.rdb, Ledger: e.store, Apps: map[string]quota.Policy{testApp: pol}, Now: e.clock.Now, Margin: margin, Prefix: "rv2:"})
	if err != nil {
		t.Fatal(err)
	}
	ids := fire(t, e.ctx, e.store, 2, body(), t0, t0, 48*time.Hour)
	h1, err := worker.NewHandler(worker.Deps{
		Store: e.store, Guard: &onceSlowGuard{Guard: g, clock: e.clock, by: 7400 * time.Millisecond},
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
