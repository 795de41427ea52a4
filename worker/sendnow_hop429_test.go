package worker_test

import (
	"errors"
	"testing"

	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// Was: a direct push (`tagcast push send`, worker.SendNow) whose primary
// host acts on the call and answers 503/1050, then whose backup host
// answers 429/1008 (the service's slot now used), was kept by SendNow as
// possibly sent (slot kept, ledger entry unknown), but the error it
// returned classified as rate_limited ("nothing counted, send again when
// the window reopens"): `push send` advised sending again, a second push.
// pushapi.Error.Outcome now answers unknown for a 429/1008 after a hop.
func TestSendNowHop429ClassifiesAsUnknown(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 5, Daily: 5}, emuQuota: &emulator.Quota{Hourly: 1, Daily: 3}})
	client := hopClient(t, e)
	p := worker.GuardedPusher{Guard: e.guard, Ledger: e.store, Pusher: client, App: testApp}
	b := body()
	_, err := p.Push(e.ctx, &b)
	var pe *pushapi.Error
	if !errors.As(err, &pe) || pe.HTTPStatus != 429 || !pe.MayHaveReached || pe.Attempts != 2 {
		t.Fatalf("direct push: %v; want a 429 after a fail-over hop, MayHaveReached", err)
	}
	if c := e.emu.Counters(testKey); c.Accepted != 1 {
		t.Fatalf("emulator accepted %d pushes, want 1 (the primary host took it)", c.Accepted)
	}
	if n := ledgerCount(t, e); n != 1 {
		t.Fatalf("ledger counts %d, want 1: SendNow keeps the hop-429 as possibly sent", n)
	}
	if got := pushapi.Classify(err); got != pushapi.OutcomeUnknown {
		t.Errorf("pushapi.Classify(SendNow's error) = %s, want %s: the push went out through the primary host "+
			"(the service accepted %d) and SendNow recorded it unknown, but push send reports %q and advises sending it again",
			got, pushapi.OutcomeUnknown, e.emu.Counters(testKey).Accepted, got)
	}
}
