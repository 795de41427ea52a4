package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/worker"
)

// claimHookStore runs hook around the store's first ClaimSend.
type claimHookStore struct {
	*sqlstore.Store
	hook func(claim func() (campaign.Send, error)) (campaign.Send, error)
	used bool
}

func (s *claimHookStore) ClaimSend(ctx context.Context, id int64, now time.Time, lease time.Duration) (campaign.Send, error) {
	claim := func() (campaign.Send, error) { return s.Store.ClaimSend(ctx, id, now, lease) }
	if s.used {
		return claim()
	}
	s.used = true
	return s.hook(claim)
}

// hooked is e's handler on a store with hook around its first claim.
func hooked(t *testing.T, e *env, hook func(claim func() (campaign.Send, error)) (campaign.Send, error)) *worker.Handler {
	t.Helper()
	return e.handlerOn(&claimHookStore{Store: e.store, hook: hook}, e.guard)
}

// notStarted asserts that send 0 of run id waits, its attempt not spent,
// with no push made and no quota slot held.
func notStarted(t *testing.T, e *env, id int64) {
	t.Helper()
	_, sends := e.run(id)
	if sends[0].Status != campaign.SendPending || sends[0].Attempts != 0 || sends[0].SentAt != nil {
		t.Errorf("send %s, %d attempts, sent_at %v; want pending, the attempt given back", sends[0].Status, sends[0].Attempts, sends[0].SentAt)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 0 {
		t.Errorf("%d pushes, want none", n)
	}
	e.hourUsed(0, "the slot is given back")
}

// A claim that committed but whose answer was lost (the connection dropped
// after the commit) would leave the send in flight, never called, and
// unknown once its lease lapsed: the worker finds it under its own name and
// gives it back, and the next delivery sends it.
func TestLostClaimAnswerIsGivenBack(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	h := hooked(t, e, func(claim func() (campaign.Send, error)) (campaign.Send, error) {
		if _, err := claim(); err != nil {
			return campaign.Send{}, err
		}
		return campaign.Send{}, errors.New("read tcp: connection reset by peer")
	})
	if err := h.ProcessRun(e.ctx, ids[0]); err == nil {
		t.Fatal("a failed claim returned no error")
	}
	notStarted(t, e, ids[0])
	if err := h.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	run, sends := e.run(ids[0])
	if run.Status != campaign.RunDone || sends[0].Status != campaign.SendSent || len(e.emu.PushesFor(testKey)) != 1 {
		t.Errorf("next delivery: run %s, send %s, %d pushes; want done, sent, 1", run.Status, sends[0].Status, len(e.emu.PushesFor(testKey)))
	}
}

// The task's context ends as the send is claimed (shutdown, the task's
// deadline): the worker gives the claim back instead of calling with a
// context that is over. (The claim itself runs on a context the task's end
// does not cancel, so it is never cut off after its commit, unseen.)
func TestTaskEndingDuringTheClaimGivesItBack(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	h := hooked(t, e, func(claim func() (campaign.Send, error)) (campaign.Send, error) {
		sd, err := claim()
		cancel() // the task ends as the statement commits
		return sd, err
	})
	if err := h.ProcessRun(ctx, ids[0]); !errors.Is(err, context.Canceled) {
		t.Fatalf("ProcessRun = %v, want the task's end", err)
	}
	notStarted(t, e, ids[0])
}
