package quota

import (
	"context"
	"sync"
	"testing"
	"time"
)

// attemptLedger is a fakeLedger that names each attempt's send and claim
// (an AttemptLedger, as *sqlstore.Store is).
type attemptLedger struct {
	fakeLedger
	mu       sync.Mutex
	attempts map[string][]Attempt
}

func (l *attemptLedger) addAttempt(app string, a Attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.attempts == nil {
		l.attempts = map[string][]Attempt{}
	}
	l.attempts[app] = append(l.attempts[app], a)
	l.add(app, a.At)
}

func (l *attemptLedger) AttemptsBetween(_ context.Context, app string, from, to time.Time) ([]Attempt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Attempt
	for _, a := range l.attempts[app] {
		if !a.At.Before(from) && a.At.Before(to) {
			out = append(out, a)
		}
	}
	return out, nil
}

// A claim in flight when Redis lost its state is seeded by the rebuild
// under the claim's name: Held finds that slot for the claim, and Release
// gives it back. The rebuild used to seed it under an anonymous member:
// the worker found its reservation gone and gave the claim back, while the
// seeded slot stayed counted, unused, for its whole window (up to a day of
// a rolling day): runs waited for room the service had (found by the e2e
// chaos test's lateness check).
func TestRebuiltClaimIsTheReservationsSlot(t *testing.T) {
	ctx := context.Background()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 10}}, NoMargin, now)
	l := &attemptLedger{}
	b.opts.Ledger = l
	g, err := New(b.opts)
	if err != nil {
		t.Fatal(err)
	}

	res := must(t)(g.Reserve(ctx, "main"))
	l.addAttempt("main", Attempt{At: res.At, Send: 7, Claim: 3}) // the claim, in flight
	res = res.Claimed(7, 3)
	other := must(t)(g.Reserve(ctx, "main"))
	l.addAttempt("main", Attempt{At: other.At, Send: 8, Claim: 1})
	other = other.Claimed(8, 1)

	b.redis.Flush(t)
	if st, err := g.Status(ctx, "main"); err != nil || !st.Rebuilt || st.Hour.Used != 2 {
		t.Fatalf("rebuild: %+v, %v; want the two claims in flight counted", st, err)
	}
	if held, err := g.Held(ctx, res); err != nil || !held {
		t.Errorf("Held after a rebuild that counted the claim = %v, %v; want true: the slot is the claim's", held, err)
	}
	// The worker decides not to call (its slot's UseBy passed): the slot
	// goes back, and the window has room again.
	if err := g.Release(ctx, res); err != nil {
		t.Fatal(err)
	}
	if got := len(b.entryScores(t, "main")); got != 1 {
		t.Errorf("after the release %d entries, want 1 (the other claim's): the released claim's slot stayed counted", got)
	}
	if _, err := g.Reserve(ctx, "main"); err != nil {
		t.Errorf("a slot after the release: %v; want room", err)
	}
	// An unclaimed reservation is no claim's: a rebuild never seeds it.
	unclaimed := Reservation{App: "main", ID: "gone", At: now, UseBy: now.Add(time.Second)}
	if held, err := g.Held(ctx, unclaimed); err != nil || held {
		t.Errorf("Held of a reservation Redis lost, never claimed = %v, %v; want false", held, err)
	}
}

// must fails the test on err.
func must(t *testing.T) func(Reservation, error) Reservation {
	return func(r Reservation, err error) Reservation {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}
