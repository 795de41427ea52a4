package worker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// countingStore counts the store calls of the hot path, and can replace
// the first ClaimFirstSend's answer.
type countingStore struct {
	*sqlstore.Store
	getRun, claimSend, claimFirst atomic.Int32
	// firstHook, when set, wraps the first ClaimFirstSend.
	firstHook func(claim func() (campaign.Send, *time.Time, bool, error)) (campaign.Send, *time.Time, bool, error)
}

func (s *countingStore) GetRun(ctx context.Context, id int64) (campaign.Run, []campaign.Send, error) {
	s.getRun.Add(1)
	return s.Store.GetRun(ctx, id)
}

func (s *countingStore) ClaimSend(ctx context.Context, id int64, now time.Time, lease time.Duration) (campaign.Send, error) {
	s.claimSend.Add(1)
	return s.Store.ClaimSend(ctx, id, now, lease)
}

func (s *countingStore) ClaimFirstSend(ctx context.Context, runID int64, app string, now time.Time, lease time.Duration) (campaign.Send, *time.Time, bool, error) {
	claim := func() (campaign.Send, *time.Time, bool, error) {
		return s.Store.ClaimFirstSend(ctx, runID, app, now, lease)
	}
	if s.claimFirst.Add(1) == 1 && s.firstHook != nil {
		return s.firstHook(claim)
	}
	return claim()
}

// counted is e's handler on a countingStore.
func counted(t *testing.T, e *env) (*worker.Handler, *countingStore) {
	t.Helper()
	cs := &countingStore{Store: e.store}
	return e.handlerOn(cs, e.guard), cs
}

// hintedTask is the task the scheduler enqueues for run id of app at at.
func hintedTask(t *testing.T, id int64, app string, at time.Time) *asynq.Task {
	t.Helper()
	task, err := queue.NewRunSendTask(queue.RunSendPayload{RunID: id, App: app, ScheduledFor: at}, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// A hinted task of a due one-send run is sent and settled without a read of
// the run: the first claim and the outcome are its only statements.
func TestHintedTaskSendsWithoutReadingTheRun(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	h, cs := counted(t, e)
	e.clock.Set(t0.Add(time.Second))
	if err := h.ProcessTask(e.ctx, hintedTask(t, ids[0], testApp, t0)); err != nil {
		t.Fatal(err)
	}
	if g, c, f := cs.getRun.Load(), cs.claimSend.Load(), cs.claimFirst.Load(); g != 0 || c != 0 || f != 1 {
		t.Errorf("store calls: GetRun %d, ClaimSend %d, ClaimFirstSend %d; want 0, 0, 1", g, c, f)
	}
	run, sends := e.run(ids[0])
	if run.Status != campaign.RunDone || sends[0].Status != campaign.SendSent || sends[0].MessageUID == "" ||
		sends[0].SentAt == nil || !sends[0].SentAt.Equal(t0.Add(time.Second)) {
		t.Errorf("run %s, send %s (uid %q, sent_at %v); want done, sent at t0+1s with its messageUID", run.Status, sends[0].Status, sends[0].MessageUID, sends[0].SentAt)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 1 {
		t.Errorf("%d pushes, want 1", n)
	}
	// Delivered again (asynq may): the run is settled, nothing more is sent.
	if err := h.ProcessTask(e.ctx, hintedTask(t, ids[0], testApp, t0)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 1 {
		t.Errorf("after a second delivery: %d pushes, want 1", n)
	}
	e.hourUsed(1, "the second delivery's slot is given back")
}

// The hint's instant is waited for before the slot is reserved, and the
// store checks it again: a run is never sent early, whatever the hint says.
func TestHintedTaskNeverEarly(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	h, cs := counted(t, e)
	e.clock.Set(t0.Add(-5 * time.Second))
	s := snoozeOf(t, h.ProcessTask(e.ctx, hintedTask(t, ids[0], testApp, t0)))
	if !s.Until.Equal(t0) || s.Reason != "scheduled" || cs.claimFirst.Load() != 0 {
		t.Errorf("snooze until %v (%s) after %d claims; want t0 (scheduled), no claim", s.Until, s.Reason, cs.claimFirst.Load())
	}
	// A hint earlier than the run's instant: the claim refuses, the run is
	// read and waited for.
	s = snoozeOf(t, h.ProcessTask(e.ctx, hintedTask(t, ids[0], testApp, t0.Add(-time.Minute))))
	if !s.Until.Equal(t0) || s.Reason != "scheduled" {
		t.Errorf("with an early hint: snooze until %v (%s), want t0 (scheduled)", s.Until, s.Reason)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 0 {
		t.Fatalf("%d pushes before the run's instant", n)
	}
	e.hourUsed(0, "nothing sent before the run's instant")
	e.clock.Set(t0)
	if err := h.ProcessTask(e.ctx, hintedTask(t, ids[0], testApp, t0)); err != nil {
		t.Fatal(err)
	}
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendSent || !sends[0].SentAt.Equal(t0) {
		t.Errorf("send %s at %v, want sent at t0", sends[0].Status, sends[0].SentAt)
	}
}

// A hinted task whose run was cancelled sends nothing and gives its slot
// back; one naming an app this worker does not serve is processed from the
// store.
func TestHintedTaskFallsBackToTheStore(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 2, body(), t0, t0, 0)
	h, cs := counted(t, e)
	r, _ := e.run(ids[0])
	if _, err := e.store.Cancel(e.ctx, r.CampaignID, t0); err != nil {
		t.Fatal(err)
	}
	if err := h.ProcessTask(e.ctx, hintedTask(t, ids[0], testApp, t0)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 0 {
		t.Errorf("a cancelled run pushed %d times", n)
	}
	e.hourUsed(0, "the refused claim's slot is given back")
	if cs.getRun.Load() == 0 {
		t.Error("the refused claim did not read the run")
	}
	// A hint naming another app: not trusted, the run is read.
	if err := h.ProcessTask(e.ctx, hintedTask(t, ids[1], "elsewhere", t0)); err != nil {
		t.Fatal(err)
	}
	if run, sends := e.run(ids[1]); run.Status != campaign.RunDone || sends[0].Status != campaign.SendSent {
		t.Errorf("run %s, send %s; want done, sent", run.Status, sends[0].Status)
	}
	if f := cs.claimFirst.Load(); f != 1 {
		t.Errorf("%d first claims, want 1 (the cancelled run's)", f)
	}
}

// A run of two sends: the first is claimed from the hints, the second from
// the store, and the run ends done.
func TestHintedTaskOfATwoSendRun(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, twoSendBody(), t0, t0, 0)
	h, cs := counted(t, e)
	if err := h.ProcessTask(e.ctx, hintedTask(t, ids[0], testApp, t0)); err != nil {
		t.Fatal(err)
	}
	run, sends := e.run(ids[0])
	if run.Status != campaign.RunDone || len(sends) != 2 || sends[0].Status != campaign.SendSent || sends[1].Status != campaign.SendSent {
		t.Fatalf("run %s with %d sends, want done with 2 sent", run.Status, len(sends))
	}
	if f, c := cs.claimFirst.Load(), cs.claimSend.Load(); f != 1 || c != 1 {
		t.Errorf("ClaimFirstSend %d, ClaimSend %d; want 1 and 1", f, c)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 2 {
		t.Errorf("%d pushes, want 2", n)
	}
}

// A full quota window: the hinted task waits without writing anything.
func TestHintedTaskWaitsForQuotaWithoutAClaim(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 1, Daily: 3}})
	ids := fire(t, e.ctx, e.store, 2, body(), t0, t0, 0)
	h, cs := counted(t, e)
	if err := h.ProcessTask(e.ctx, hintedTask(t, ids[0], testApp, t0)); err != nil {
		t.Fatal(err)
	}
	s := snoozeOf(t, h.ProcessTask(e.ctx, hintedTask(t, ids[1], testApp, t0)))
	if want := t0.Add(time.Hour + quota.DefaultMargin); !s.Until.Equal(want) || s.Reason != "quota" {
		t.Errorf("snooze until %v (%s), want %v (quota)", s.Until, s.Reason, want)
	}
	if f := cs.claimFirst.Load(); f != 1 {
		t.Errorf("%d first claims, want 1: a full window claims nothing", f)
	}
	if run, sends := e.run(ids[1]); run.Status != campaign.RunPending || sends[0].Status != campaign.SendPending {
		t.Errorf("waiting run %s, send %s; want pending, pending", run.Status, sends[0].Status)
	}
	// Delivered again an hour after its instant: the run is read first (a
	// run that late has most likely waited, or started).
	e.clock.Set(s.Until)
	if err := h.ProcessTask(e.ctx, hintedTask(t, ids[1], testApp, t0)); err != nil {
		t.Fatal(err)
	}
	if c := e.emu.Counters(testKey); c.Accepted != 2 || c.RateLimited != 0 {
		t.Errorf("emulator: %d accepted, %d rate limited; want 2 and 0", c.Accepted, c.RateLimited)
	}
	if f, c := cs.claimFirst.Load(), cs.claimSend.Load(); f != 1 || c != 1 {
		t.Errorf("ClaimFirstSend %d, ClaimSend %d; want 1 and 1: the late delivery reads the run", f, c)
	}
}

// A first claim that committed but whose answer was lost is found under
// this worker's name and given back, as for ClaimSend.
func TestLostFirstClaimAnswerIsGivenBack(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	h, cs := counted(t, e)
	cs.firstHook = func(claim func() (campaign.Send, *time.Time, bool, error)) (campaign.Send, *time.Time, bool, error) {
		if _, _, ok, err := claim(); err != nil || !ok {
			t.Errorf("the hooked claim: %v, %v", ok, err)
		}
		return campaign.Send{}, nil, false, errors.New("read tcp: connection reset by peer")
	}
	if err := h.ProcessTask(e.ctx, hintedTask(t, ids[0], testApp, t0)); err == nil {
		t.Fatal("a failed claim returned no error")
	}
	notStarted(t, e, ids[0])
	// The run started with the lost claim: the next delivery goes through
	// the store.
	if err := h.ProcessTask(e.ctx, hintedTask(t, ids[0], testApp, t0)); err != nil {
		t.Fatal(err)
	}
	if run, sends := e.run(ids[0]); run.Status != campaign.RunDone || sends[0].Status != campaign.SendSent || len(e.emu.PushesFor(testKey)) != 1 {
		t.Errorf("next delivery: run %s, send %s, %d pushes; want done, sent, 1", run.Status, sends[0].Status, len(e.emu.PushesFor(testKey)))
	}
}
