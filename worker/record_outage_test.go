package worker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// outageStore is the store during a short database outage that starts at
// the first outcome write: the next `fail` RecordOutcomeAndFinish calls fail
// (a PostgreSQL restart or fail-over, a dropped pooler), and later ones work.
// With lostAnswer, the first call commits and only its answer is lost.
type outageStore struct {
	worker.Store
	fail       int
	lostAnswer bool
	mu         sync.Mutex
	calls      int
}

func (s *outageStore) RecordOutcomeAndFinish(ctx context.Context, tok campaign.ClaimToken, o campaign.Outcome) (campaign.Send, bool, error) {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	if s.lostAnswer && n == 1 {
		if _, _, err := s.Store.RecordOutcomeAndFinish(ctx, tok, o); err != nil {
			return campaign.Send{}, false, err
		}
		return campaign.Send{}, false, errors.New("driver: bad connection (after the commit)")
	}
	if n <= s.fail {
		return campaign.Send{}, false, errors.New("driver: bad connection")
	}
	return s.Store.RecordOutcomeAndFinish(ctx, tok, o)
}

// A database outage as the service answers 200 must not lose the push's
// messageUID: the handler keeps trying for StoreTimeout (15 s, well inside
// the send's lease). It used to give up after three tries over 300 ms: the
// send stayed in flight until its lease lapsed and became unknown, the run
// failed instead of done, and `retry --unknown` would have pushed it twice.
// A first try that committed and lost only its answer is success too (its
// retry is refused as a transition, and the send holds the outcome).
func TestRecordOutcomeOutlastsAShortDatabaseOutage(t *testing.T) {
	t.Parallel()
	for name, st := range map[string]*outageStore{
		"4 failed tries": {fail: 4},
		"answer lost":    {lostAnswer: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, envOpts{})
			ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
			st.Store = e.store
			if err := e.handlerOn(st, e.guard).ProcessRun(e.ctx, ids[0]); err != nil {
				t.Fatalf("ProcessRun during the outage: %v (record calls: %d)", err, st.calls)
			}
			pushes := e.emu.PushesFor(testKey)
			if len(pushes) != 1 {
				t.Fatalf("%d pushes, want 1", len(pushes))
			}
			run, sends := e.run(ids[0])
			if sends[0].Status != campaign.SendSent || sends[0].MessageUID != pushes[0].MessageUID || run.Status != campaign.RunDone {
				t.Errorf("run %s, send %s, messageUID %q; want done, sent, %q (the service accepted the push)",
					run.Status, sends[0].Status, sends[0].MessageUID, pushes[0].MessageUID)
			}
		})
	}
}

// pauseBeforeReserve is a guard whose first reservation is preceded by the
// clock moving on by jump: the worker process paused (GC, a VM migration,
// a slow Redis) after it checked the run's deliver_by and before it
// reserved and claimed.
type pauseBeforeReserve struct {
	worker.Guard
	clock *fakeClock
	jump  time.Duration
	done  atomic.Bool
}

func (g *pauseBeforeReserve) ReserveFor(ctx context.Context, app string, w quota.Waiter) (quota.Reservation, error) {
	if g.done.CompareAndSwap(false, true) {
		g.clock.Set(g.clock.Now().Add(g.jump))
	}
	return g.Guard.ReserveFor(ctx, app, w)
}

// deliver_within passes between the worker's look at the run and its claim
// (the process paused): no stale push goes out, the run and its send end
// expired. ClaimSend used to ignore deliver_by, and the push went out an
// hour late.
func TestPauseBeforeTheClaimPastDeliverBySendsNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, time.Hour)
	g := &pauseBeforeReserve{Guard: e.guard, clock: e.clock, jump: time.Hour + time.Minute}
	h := e.handlerOn(e.store, g)
	if err := h.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Logf("ProcessRun: %v", err)
	}
	run, sends := e.run(ids[0])
	if n := len(e.emu.PushesFor(testKey)); n != 0 {
		t.Errorf("%d pushes made at %s, after the run's deliver_by %s; want none", n, sends[0].SentAt, run.DeliverBy)
	}
	if run.Status != campaign.RunExpired || sends[0].Status != campaign.SendExpired {
		t.Errorf("run %s, send %s; want expired, expired", run.Status, sends[0].Status)
	}
}
