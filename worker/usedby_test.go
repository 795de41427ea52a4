package worker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// jumpAfterReserve is a guard whose first granted reservation is followed
// by the clock moving on by jump (a process paused between its
// reservation and its claim, or a simulated clock stepped meanwhile).
type jumpAfterReserve struct {
	worker.Guard
	clock *fakeClock
	jump  time.Duration
	done  atomic.Bool
}

func (g *jumpAfterReserve) ReserveFor(ctx context.Context, app string, w quota.Waiter) (quota.Reservation, error) {
	res, err := g.Guard.ReserveFor(ctx, app, w)
	if err == nil && g.done.CompareAndSwap(false, true) {
		g.clock.Set(g.clock.Now().Add(g.jump))
	}
	return res, err
}

// A send claimed long after its slot was reserved is not pushed on that
// slot: the slot counts from its reservation, and the push would land in a
// window that has moved on (the service could then see one more push in
// its hour than the guard). The claim and the slot go back, and the run
// reserves and claims again at the current instant.
func TestClaimLongAfterTheReservationReservesAgain(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 1, Daily: 10}})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	g := &jumpAfterReserve{Guard: e.guard, clock: e.clock, jump: 40 * time.Minute}
	if err := e.handlerOn(e.store, g).ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(40 * time.Minute)
	run, sends := e.run(ids[0])
	if run.Status != campaign.RunDone || sends[0].Status != campaign.SendSent || sends[0].Attempts != 1 ||
		sends[0].SentAt == nil || !sends[0].SentAt.Equal(later) {
		t.Errorf("run %s, send %s with %d attempts sent at %v; want done, sent once at %s", run.Status, sends[0].Status, sends[0].Attempts, sends[0].SentAt, later)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 1 {
		t.Errorf("%d pushes, want 1", n)
	}
	// The slot reserved at t0 was given back: the guard counts the one
	// push at the instant it was made, so its hour opens again when the
	// service's does (kept at t0, it would open 40 minutes early).
	st, err := e.guard.Status(e.ctx, testApp)
	if want := later.Add(time.Hour + quota.DefaultMargin); err != nil || st.Hour.Used != 1 || !st.Hour.NextOpening.Equal(want) {
		t.Fatalf("quota hour used %d, next opening %s (%v); want 1, %s", st.Hour.Used, st.Hour.NextOpening, err, want)
	}
	ledger, err := e.store.SentBetween(e.ctx, testApp, t0, later.Add(time.Hour))
	if err != nil || len(ledger) != 1 || !ledger[0].Equal(later) {
		t.Errorf("quota ledger %v (%v), want the one push at %s", ledger, err, later)
	}
}

// An attempt begins at its slot's instant, not at its claim's: the ledger's
// sent_at and the guard's entry agree to the microsecond, so a window
// rebuilt from the ledger (or compared with it) counts the attempt where the
// guard did, even when the clock moved a little between the two.
func TestAttemptBeginsAtItsSlotsInstant(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 1, Daily: 10}})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	g := &jumpAfterReserve{Guard: e.guard, clock: e.clock, jump: 2 * time.Second} // within UseBy
	if err := e.handlerOn(e.store, g).ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	_, sends := e.run(ids[0])
	if sends[0].Status != campaign.SendSent || sends[0].SentAt == nil || !sends[0].SentAt.Equal(t0) {
		t.Fatalf("send %s, sent_at %v; want sent, begun at its slot's instant %s", sends[0].Status, sends[0].SentAt, t0)
	}
	st, err := e.guard.Status(e.ctx, testApp)
	if want := t0.Add(time.Hour + quota.DefaultMargin); err != nil || !st.Hour.NextOpening.Equal(want) {
		t.Errorf("guard's next opening %s (%v), want %s: the entry and the ledger at one instant", st.Hour.NextOpening, err, want)
	}
	ledger, err := e.store.SentBetween(e.ctx, testApp, t0, t0.Add(time.Hour))
	if err != nil || len(ledger) != 1 || !ledger[0].Equal(t0) {
		t.Errorf("quota ledger %v (%v), want the attempt at %s", ledger, err, t0)
	}
}
