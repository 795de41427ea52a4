package worker_test

import (
	"errors"
	"testing"

	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// A direct push (`tagcast push send`, worker.SendNow) whose primary host
// acts on the call and answers 504/1050 makes that one call: the client
// does not hop to the backup within the call after such an answer (it did,
// and a backup's 429 followed, or a second push). SendNow keeps the attempt as possibly sent
// (slot kept, ledger entry), and the error is the 504's: retry class.
func TestSendNowAnsweredPrimaryIsTheOnlyCall(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 5, Daily: 5}, emuQuota: &emulator.Quota{Hourly: 1, Daily: 3}})
	client := hopClient(t, e)
	p := worker.GuardedPusher{Guard: e.guard, Ledger: e.store, Pusher: client, App: testApp}
	b := body()
	_, err := p.Push(e.ctx, &b)
	var pe *pushapi.Error
	if !errors.As(err, &pe) || pe.HTTPStatus != 504 || pe.Attempts != 1 {
		t.Fatalf("direct push: %v; want the primary's 504 after one attempt", err)
	}
	if c := e.emu.Counters(testKey); c.Accepted != 1 || c.RateLimited != 0 {
		t.Fatalf("emulator accepted %d pushes, rate limited %d; want 1 (the primary took it) and 0", c.Accepted, c.RateLimited)
	}
	if n := ledgerCount(t, e); n != 1 {
		t.Fatalf("ledger counts %d, want 1: SendNow keeps the answered 5xx as possibly sent", n)
	}
	if got := pushapi.Classify(err); got != pushapi.OutcomeRetry {
		t.Errorf("pushapi.Classify(SendNow's error) = %s, want %s", got, pushapi.OutcomeRetry)
	}
}
