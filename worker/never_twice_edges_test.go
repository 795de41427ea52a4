package worker_test

// Edges of the worker's path of one send (never twice, never lost, never
// early, never over the quota), found by a review of it; each test failed
// on the code before its fix.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// ntSlowGuard is the quota guard whose BlockRateLimited and/or first
// Release do not answer before their context ends: Guard.Block writes
// quota_blocks and then Redis, Release is a Redis script, and either may be
// in the middle of a fail-over (go-redis alone retries a dead server for
// several ReadTimeouts).
type ntSlowGuard struct {
	worker.Guard
	slowBlock   bool
	slowRelease bool
	mu          sync.Mutex
	released    int
}

func (g *ntSlowGuard) BlockRateLimited(ctx context.Context, app string, retryAfter time.Duration) (time.Time, error) {
	if g.slowBlock {
		<-ctx.Done()
		return time.Time{}, ctx.Err()
	}
	return g.Guard.BlockRateLimited(ctx, app, retryAfter)
}

func (g *ntSlowGuard) Release(ctx context.Context, res quota.Reservation) error {
	g.mu.Lock()
	g.released++
	first := g.released == 1
	g.mu.Unlock()
	if g.slowRelease && first {
		<-ctx.Done()
		return ctx.Err()
	}
	return g.Guard.Release(ctx, res)
}

// ntHandler is a handler on e's store (or store) with guard g and pusher p,
// whose outcomes must be recorded within storeTimeout.
func ntHandler(t *testing.T, e *env, store worker.Store, g worker.Guard, p worker.Pusher, storeTimeout time.Duration) *worker.Handler {
	t.Helper()
	if store == nil {
		store = e.store
	}
	if p == nil {
		p = e.client
	}
	h, err := worker.NewHandler(worker.Deps{
		Store: store, Guard: g, Pushers: map[string]worker.Pusher{testApp: p},
		Clock: e.clock, Logger: testLogger(t), Jitter: func() float64 { return 0.5 },
	}, worker.Config{Lease: time.Minute, StoreTimeout: storeTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A 429/1008 is recorded after Guard.BlockRateLimited, on the same
// StoreTimeout context (sctx). A block slow to answer eats the whole budget
// and the release of the claim (pending, the attempt given back) is never
// written: the send stays in_flight and becomes unknown when its lease
// lapses, although the service refused it; it is never sent (only an
// operator's `retry --unknown` would). a16f3b6 moved the 5xx hold after the
// record for exactly this reason ("a slow hold cost the send its answer"),
// but left the 429 block in front of it.
func TestSlow429BlockDoesNotLoseTheRelease(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	p := pusherFunc(func(context.Context, *pushapi.Request) (*pushapi.PushResponse, error) {
		return nil, &pushapi.Error{Path: pushapi.PathPush, HTTPStatus: 429, Code: pushapi.CodeRateLimited,
			Message: "rate limited", Attempts: 1}
	})
	h := ntHandler(t, e, nil, &ntSlowGuard{Guard: e.guard, slowBlock: true}, p, 300*time.Millisecond)
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	perr := h.ProcessRun(e.ctx, ids[0])
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendPending || sends[0].Attempts != 0 {
		t.Errorf("send after a 429 whose block was slow to set: %s, %d attempts (ProcessRun: %v); want pending, the attempt given back "+
			"(an in_flight send becomes unknown when its lease lapses, and is never sent)", sends[0].Status, sends[0].Attempts, perr)
	}
}

// A network failure before the request was written (pushapi: retry class,
// NotSent) gives its slot back with Guard.Release before the outcome is
// recorded, on the same StoreTimeout context. A Release slow to answer eats
// the budget: retry_wait is never written, the send stays in_flight and
// becomes unknown when its lease lapses. A push that provably never left
// the worker is then never retried (unknown is not re-sent automatically):
// a send lost. The same holds for a definitive refusal (1001-1007, 1009),
// recorded unknown instead of failed.
func TestSlowReleaseDoesNotLoseARetry(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	p := pusherFunc(func(context.Context, *pushapi.Request) (*pushapi.PushResponse, error) {
		return nil, &pushapi.Error{Path: pushapi.PathPush, Message: "request not sent", Err: syscall.ECONNREFUSED, Attempts: 1}
	})
	h := ntHandler(t, e, nil, &ntSlowGuard{Guard: e.guard, slowRelease: true}, p, 300*time.Millisecond)
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	perr := h.ProcessRun(e.ctx, ids[0])
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendRetryWait {
		t.Errorf("send after a call refused before its request was written, whose slot release was slow: %s (ProcessRun: %v); "+
			"want retry_wait (an in_flight send becomes unknown when its lease lapses, and is never retried)", sends[0].Status, perr)
	}
}

// ntGiveBackOutage is the store during a short outage that starts at the
// first give-back (an outcome of pending, through either record call): its
// first `fail` such calls fail, as
// TestRecordOutcomeOutlastsAShortDatabaseOutage's store fails the record.
type ntGiveBackOutage struct {
	worker.Store
	fail  int
	mu    sync.Mutex
	calls int
}

func (s *ntGiveBackOutage) down(o campaign.Outcome) bool {
	if o.Status != campaign.SendPending {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return s.calls <= s.fail
}

func (s *ntGiveBackOutage) RecordOutcome(ctx context.Context, tok campaign.ClaimToken, o campaign.Outcome) (campaign.Send, error) {
	if s.down(o) {
		return campaign.Send{}, errors.New("driver: bad connection")
	}
	return s.Store.RecordOutcome(ctx, tok, o)
}

func (s *ntGiveBackOutage) RecordOutcomeAndFinish(ctx context.Context, tok campaign.ClaimToken, o campaign.Outcome) (campaign.Send, bool, error) {
	if s.down(o) {
		return campaign.Send{}, false, errors.New("driver: bad connection")
	}
	return s.Store.RecordOutcomeAndFinish(ctx, tok, o)
}

// A claim that is not called (its slot past UseBy after a slow claim, its
// slot lost from Redis, deliver_by passed, the task ended) was given back
// with one RecordOutcome and no second try; it is now tried again for
// StoreTimeout, as an outcome is. The outcome of a call is
// recorded through a short database outage (recordOutcome tries again for
// StoreTimeout); a give-back meeting the same outage leaves the send
// in_flight, no call ever made, and the next delivery finds its lease
// lapsed and settles it unknown: a push never sent, never retried (only an
// operator's `retry --unknown`, which it says risks a duplicate). The
// state machine promises a send stays in flight this way "only when the
// store cannot be read at all".
func TestGiveBackOutlastsAShortDatabaseOutage(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	// The claim commits 5 s after its slot (past UseBy, 4 s): not called,
	// given back; the give-back's first try meets a dropped connection.
	store := &ntGiveBackOutage{Store: slowClaims{e.store, &delay{clock: e.clock, by: 5 * time.Second, once: true}}, fail: 1}
	h := e.handlerOn(store, e.guard)
	if err := h.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Logf("ProcessRun during the outage: %v", err)
	}
	// The next deliveries of the task, after the claim's lease.
	e.clock.Set(e.clock.Now().Add(2 * time.Minute))
	var sn *worker.Snooze
	for range 5 {
		err := e.handler.ProcessRun(e.ctx, ids[0])
		if err == nil {
			break
		}
		if !errors.As(err, &sn) {
			t.Fatalf("ProcessRun: %v", err)
		}
		e.clock.Set(sn.Until.Add(time.Second))
	}
	run, sends := e.run(ids[0])
	if n := len(e.emu.PushesFor(testKey)); n != 1 || sends[0].Status != campaign.SendSent {
		t.Errorf("%d pushes; run %s, send %s (%q); want the send pushed once and sent: its only claim was never called",
			n, run.Status, sends[0].Status, sends[0].LastMessage)
	}
}

// ntHeldCall is a pusher that says when its call has begun and waits for
// release before making it.
type ntHeldCall struct {
	inner   worker.Pusher
	entered chan struct{}
	release chan struct{}
}

func (p *ntHeldCall) Push(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
	close(p.entered)
	<-p.release
	return p.inner.Push(ctx, req)
}

// giveBackLostClaim recognises "its" claim, whose answer was lost, by the
// claimant (host:pid, the same for every task of the process) and the
// claim's instant (its slot's, to ±1 µs). Two tasks of one run in one
// process (asynq re-delivered the task after a lost lease, or the
// reconciler enqueued it again, while the first still runs) can reserve at
// the same instant: here task B claims the send and is on the wire while
// task A's claim statement fails without committing (the connection dropped
// before it ran). A found B's claim, took it for its own lost one and gave
// it back to pending while B's push was under way: B's 200 was refused (its
// claim no longer in flight) and the next delivery pushed the send a second
// time. While another task of the process is on the run, a claim found is
// left to its lease. Both tasks run on one Handler, as in a worker process.
func TestLostClaimSearchDoesNotGiveBackAnotherTasksClaim(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	e.clock.Set(t0) // both tasks reserve at this instant
	call := &ntHeldCall{inner: e.client, entered: make(chan struct{}), release: make(chan struct{})}
	bDone := make(chan error, 1)
	var h *worker.Handler
	h = ntHandler(t, e, &claimHookStore{Store: e.store, hook: func(func() (campaign.Send, error)) (campaign.Send, error) {
		go func() { bDone <- h.ProcessRun(e.ctx, ids[0]) }()
		<-call.entered // B claimed the send and is calling the service
		return campaign.Send{}, errors.New("read tcp: connection reset by peer")
	}}, e.guard, call, 0)
	if err := h.ProcessRun(e.ctx, ids[0]); err == nil {
		t.Error("A's failed claim returned no error")
	}
	_, sends := e.run(ids[0])
	inFlight := sends[0].Status == campaign.SendInFlight
	close(call.release)
	if err := <-bDone; err != nil {
		t.Errorf("B: %v", err)
	}
	if !inFlight {
		t.Errorf("while B's push was under way, A gave B's claim back (send %s): A's own claim never committed", sends[0].Status)
	}
	if _, sends = e.run(ids[0]); sends[0].Status != campaign.SendSent {
		t.Errorf("after B's call: send %s, want sent", sends[0].Status)
	}
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Logf("next delivery: %v", err)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 1 {
		t.Errorf("%d pushes of one send, want 1", n)
	}
}

// ntCancelAfterHeld is the guard whose Held answers and then the task's
// context ends (the shutdown's cancel, or the task's deadline, lands as
// Held's reply is read).
type ntCancelAfterHeld struct {
	worker.Guard
	cancel context.CancelFunc
}

func (g ntCancelAfterHeld) Held(ctx context.Context, res quota.Reservation) (bool, error) {
	ok, err := g.Guard.Held(ctx, res)
	g.cancel()
	return ok, err
}

// The task's context ends after the claim and Guard.Held, just before the
// call (asynq's Shutdown cancels the handlers still running at
// ShutdownTimeout). The handler looks at ctx only right after the claim
// ("give the claim and the slot back rather than call with a context that
// is over"); its last look before the call checks UseBy and deliver_by but
// not ctx, so it calls with a context that is over. The client sends
// nothing (net/http refuses a done context), which decide takes for a
// network failure before writing: the attempt is spent and the send waits
// a backoff in retry_wait, and on its last allowed attempt it ends failed,
// never having been called.
func TestNoCallWithATaskContextThatIsOver(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	h := ntHandler(t, e, nil, ntCancelAfterHeld{Guard: e.guard, cancel: cancel}, nil, 0)
	err := h.ProcessRun(ctx, ids[0])
	_, sends := e.run(ids[0])
	if sends[0].Status != campaign.SendPending || sends[0].Attempts != 0 {
		t.Errorf("task ended before the call: send %s after %d attempt(s) (%q; ProcessRun: %v); want pending, the claim given back, no attempt spent",
			sends[0].Status, sends[0].Attempts, sends[0].LastMessage, err)
	}
}

// ntLogBuffer collects a handler's log lines.
type ntLogBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (w *ntLogBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *ntLogBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(w.b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// The "push attempt" line gives the send's status as decided, whether or
// not it was recorded: with the store down for the whole StoreTimeout the
// service's 200 is not recorded, the send stays in_flight (unknown once its
// lease lapses), and the attempt's line still says status "sent" with the
// messageUID, as for a push recorded sent. A tool or operator reading the
// attempt lines counts it delivered and recorded.
func TestPushAttemptLogSaysWhatWasRecorded(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	var buf ntLogBuffer
	h, err := worker.NewHandler(worker.Deps{
		Store: &outageStore{Store: e.store, fail: 1 << 20}, Guard: e.guard, Pushers: map[string]worker.Pusher{testApp: e.client},
		Clock: e.clock, Logger: zerolog.New(&buf), Jitter: func() float64 { return 0.5 },
	}, worker.Config{Lease: time.Minute, StoreTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	perr := h.ProcessRun(e.ctx, ids[0])
	_, sends := e.run(ids[0])
	if sends[0].Status != campaign.SendInFlight {
		t.Fatalf("send %s (ProcessRun: %v); the scenario wants the record to fail", sends[0].Status, perr)
	}
	found := false
	for _, l := range buf.lines(t) {
		if l["message"] != "push attempt" {
			continue
		}
		found = true
		// A status the send does not have is a lie; "in_flight", or a word
		// saying the outcome was not recorded, is not.
		if st, _ := l["status"].(string); campaign.Valid(campaign.SendStatus(st)) && st != string(sends[0].Status) {
			t.Errorf("push attempt line: status %q (outcome %v, message_uid %v); the send is %s: its outcome was not recorded",
				st, l["outcome"], l["message_uid"], sends[0].Status)
		}
	}
	if !found {
		t.Error("no push attempt line")
	}
}
