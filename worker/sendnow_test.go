package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// ledgerCount is how many pushes of the test app the store's quota ledger
// counts around t0.
func ledgerCount(t *testing.T, e *env) int {
	t.Helper()
	sent, err := e.store.SentBetween(e.ctx, testApp, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return len(sent)
}

// A direct push (`tagcast push send`) is in the quota ledger, stamped with
// its slot's instant, so a rebuild of the windows counts it; one the service
// refused without sending leaves no entry and gives its slot back.
func TestSendNowKeepsTheLedger(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 2, Daily: 3}})
	p := worker.GuardedPusher{Guard: e.guard, Ledger: e.store, Pusher: e.client, App: testApp}
	b := body()
	if _, err := p.Push(e.ctx, &b); err != nil {
		t.Fatal(err)
	}
	if n := ledgerCount(t, e); n != 1 {
		t.Errorf("ledger counts %d pushes after one sent, want 1", n)
	}

	refused := setup(t, envOpts{policy: quota.Policy{Hourly: 2, Daily: 3}, pushDisabled: true})
	p = worker.GuardedPusher{Guard: refused.guard, Ledger: refused.store, Pusher: refused.client, App: testApp}
	if _, err := p.Push(refused.ctx, &b); err == nil {
		t.Fatal("a push the service refused (1009) returned no error")
	}
	if n := ledgerCount(t, refused); n != 0 {
		t.Errorf("ledger counts %d pushes after one refused without sending, want 0", n)
	}
	refused.hourUsed(0, "a push refused without sending gives its slot back")
}

// flushingLedger is a store whose first BeginDirectAttempt runs hook
// first (after: once the entry is made): Redis losing its state between the
// reservation and the entry (or the entry and the call).
type flushingLedger struct {
	worker.DirectLedger
	hook  func()
	after bool
	done  bool
}

func (l *flushingLedger) BeginDirectAttempt(ctx context.Context, app string, at time.Time) (int64, error) {
	if l.done {
		return l.DirectLedger.BeginDirectAttempt(ctx, app, at)
	}
	l.done = true
	if !l.after {
		l.hook()
	}
	id, err := l.DirectLedger.BeginDirectAttempt(ctx, app, at)
	if l.after {
		l.hook()
	}
	return id, err
}

// Redis loses the guard's state after a direct push's ledger entry is made,
// and another process rebuilds the windows before the push checks its
// slot: the rebuild read the entry and counted it, under the entry's name
// (the store's AttemptsBetween names it), so the slot is still this push's.
// It goes out on it; and when the service refuses it without sending, the
// slot comes back. Seeded under an anonymous name, the push found its
// reservation gone, gave the entry back and reserved a second slot, and the
// seeded one stayed counted, unused, for its whole window (with 2 an hour,
// half the hour's room).
func TestSendNowSlotRebuiltAfterTheEntryIsThePushs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		refused bool
		used    int
	}{
		{"sent", false, 1},
		{"refused without sending", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, envOpts{policy: quota.Policy{Hourly: 2, Daily: 10}, pushDisabled: tc.refused})
			ledger := &flushingLedger{DirectLedger: e.store, after: true, hook: func() {
				e.redis.Flush(t)
				if _, err := e.guard.Status(e.ctx, testApp); err != nil { // the rebuild reads the entry
					t.Fatalf("the rebuild: %v", err)
				}
			}}
			b := body()
			_, err := worker.SendNow(e.ctx, e.guard, ledger, e.client, testApp, &b)
			if tc.refused != (err != nil) {
				t.Fatalf("SendNow = %v", err)
			}
			if n := len(e.emu.PushesFor(testKey)); n != tc.used {
				t.Errorf("%d pushes accepted, want %d", n, tc.used)
			}
			if n, want := ledgerCount(t, e), tc.used; n != want {
				t.Errorf("ledger counts %d direct pushes, want %d", n, want)
			}
			e.hourUsed(tc.used, "the push's own slot, counted once and given back when refused")
		})
	}
}

// As with a worker's claim (TestSlotLostBeforeTheClaimIsNotCalledOn): Redis
// loses the guard's state after a direct push's reservation, and another
// worker rebuilds from a ledger without this push and takes the same last
// slot. The direct push must see its slot gone before calling, give the
// entry and the slot back and reserve again, which finds the window full:
// nothing sent, no 429.
func TestSendNowSlotLostBeforeTheCallIsNotCalledOn(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 1, Daily: 10}})
	ledger := &flushingLedger{DirectLedger: e.store, hook: func() {
		e.redis.Flush(t)
		if _, err := e.guard.Reserve(e.ctx, testApp); err != nil {
			t.Fatalf("the other worker's reservation: %v", err)
		}
		other := body()
		if _, err := e.client.Push(e.ctx, &other); err != nil {
			t.Fatalf("the other worker's push: %v", err)
		}
	}}
	b := body()
	_, err := worker.SendNow(e.ctx, e.guard, ledger, e.client, testApp, &b)
	if !errors.Is(err, quota.ErrNoRoom) {
		t.Fatalf("SendNow = %v; want quota.ErrNoRoom after reserving again", err)
	}
	if c := e.emu.Counters(testKey); c.RateLimited != 0 {
		t.Errorf("the service answered %d × 429: a push was made on a slot Redis had lost", c.RateLimited)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 1 {
		t.Errorf("%d pushes, want 1 (the other worker's)", n)
	}
	if n := ledgerCount(t, e); n != 0 {
		t.Errorf("ledger counts %d direct pushes, want 0 (the entry given back)", n)
	}
}
