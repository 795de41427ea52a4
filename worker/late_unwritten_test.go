package worker_test

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/worker"
)

// lateNotWritten stalls past the claim's lease on its first call (the
// process paused while dialling), while the reconciler settles the send
// unknown, and then reports what pushapi reports for a request never
// written: a connection refused, NotSent, retry class. Later calls go to
// the service.
type lateNotWritten struct {
	inner worker.Pusher
	e     **env
	mu    sync.Mutex
	calls int
}

func (p *lateNotWritten) Push(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
	p.mu.Lock()
	p.calls++
	first := p.calls == 1
	p.mu.Unlock()
	if !first {
		return p.inner.Push(ctx, req)
	}
	e := *p.e
	e.clock.Set(e.clock.Now().Add(3 * time.Minute)) // past the 1-minute lease
	if _, err := e.store.ResolveStaleSends(ctx, e.clock.Now()); err != nil {
		return nil, err
	}
	return nil, &pushapi.Error{Path: pushapi.PathPush, Message: "request not sent", Err: syscall.ECONNREFUSED, Attempts: 1}
}

// A call that provably sent nothing (the request was never written: the
// retry class, its slot released) but whose answer came after the claim's
// lease lapsed, so that the reconciler had settled the send unknown. The
// store takes a late 200 (unknown -> sent) and a late plain 429 (unknown ->
// pending, TestLatePlain429GoesBackToPending) for the same claim, and now
// this too: retry_wait, retried and sent once. Was: the worker's retry_wait
// was refused, the worker released the slot and returned an error, and the
// send stayed unknown for good. A push never sent was never sent (only an
// operator's `retry --unknown`, which the docs say risks a duplicate, would
// send it), although the worker knew nothing went out; the run ended
// failed. The ledger also kept the unknown row of a slot the worker
// released.
func TestLateUnwrittenCallIsNotLost(t *testing.T) {
	t.Parallel()
	var e *env
	e = setup(t, envOpts{jump: true, wrap: func(p worker.Pusher) worker.Pusher { return &lateNotWritten{inner: p, e: &e} }})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	var lastErr error
	for range 6 {
		lastErr = e.handler.ProcessRun(e.ctx, ids[0])
		var sn *worker.Snooze
		switch {
		case lastErr == nil:
		case errors.As(lastErr, &sn):
			e.clock.Set(sn.Until.Add(time.Second))
			continue
		default:
			continue // asynq delivers the task again
		}
		break
	}
	run, sends := e.run(ids[0])
	if n := len(e.emu.PushesFor(testKey)); n != 1 || sends[0].Status != campaign.SendSent {
		t.Errorf("%d pushes; run %s, send %s (%q), last ProcessRun: %v; want the send retried and pushed once: "+
			"its only call was never written", n, run.Status, sends[0].Status, sends[0].LastMessage, lastErr)
	}
}
