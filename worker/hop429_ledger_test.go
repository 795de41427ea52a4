package worker_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// actedThen503 is a primary host that processes the call (the service
// counts and sends the push) and then answers 503 {"code":1050}: a 503
// that followed the push after all. HTTP says a 503 was not handled, and
// the client hops on it within the call (on another 5xx it does not: the
// next call moves instead); tagcast still holds the first host as possibly
// having acted, the conservative answer these tests keep.
type actedThen503 struct{ next http.Handler }

func (h actedThen503) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.next.ServeHTTP(httptest.NewRecorder(), r) // processed, its answer lost
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"code":1050,"errorMessage":"internal service timeout"}`))
}

// TestHopTo429KeepsTheMaybeSentAttemptInTheLedger: the primary host
// takes the push (the service counts it) and answers 503/1050; the client
// hops to the backup host, which answers 429/1008, since the slot is now
// used, and reports a 429 with MayHaveReached. The send ends unknown
// (never re-sent automatically) and its attempt is in the quota ledger.
// Before, decide mapped every 429 to pending: the attempt that may count
// at the service (and here did) was in Redis only, so when Redis lost its
// state the rebuilt windows forgot it, the guard granted a slot the
// service had already counted (the service answered 429 again), and the
// send was pushed a second time.
func TestHopTo429KeepsTheMaybeSentAttemptInTheLedger(t *testing.T) {
	t.Parallel()
	pol := quota.Policy{Hourly: 1, Daily: 2}
	e := setup(t, envOpts{policy: pol})
	client := hopClient(t, e)
	h, err := worker.NewHandler(worker.Deps{
		Store: e.store, Guard: e.guard, Pushers: map[string]worker.Pusher{testApp: client},
		Clock: e.clock, Logger: testLogger(t), Jitter: func() float64 { return 0.5 },
	}, worker.Config{Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ids := fire(t, e.ctx, e.store, 2, body(), t0, t0, 0)

	var sn *worker.Snooze
	if err := h.ProcessRun(e.ctx, ids[0]); err != nil && !errors.As(err, &sn) {
		t.Fatalf("ProcessRun: %v", err)
	}
	if c := e.emu.Counters(testKey); c.Accepted != 1 || c.RateLimited != 1 {
		t.Fatalf("emulator: %d accepted, %d rate limited; want 1 and 1 (the primary took the push, the backup said 429)", c.Accepted, c.RateLimited)
	}
	before, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	_, sends := e.run(ids[0])
	if sends[0].Status != campaign.SendUnknown {
		t.Errorf("after the hop: send %s (code %d); want unknown: the primary host may have pushed it", sends[0].Status, sends[0].LastCode)
	}

	// Redis loses its state; the windows are rebuilt from the store.
	e.redis.Flush(t)
	after, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Rebuilt {
		t.Fatal("Status did not rebuild after the flush")
	}
	if after.Day.Used < 1 {
		t.Errorf("rebuilt day window counts %d (the guard counted %d before the loss); want >= 1: the push the service took "+
			"through the primary host is in no ledger", after.Day.Used, before.Day.Used)
	}

	// What it costs: past the block, the guard has room the service does
	// not have, and the service is called over its quota.
	e.clock.Set(t0.Add(2 * time.Hour))
	midnight := time.Date(2026, 3, 3, 0, 0, 0, 0, mustZone(t, "Asia/Shanghai"))
	for _, id := range ids {
		for range 5 {
			err := h.ProcessRun(e.ctx, id)
			if err == nil {
				break
			}
			if !errors.As(err, &sn) {
				t.Fatalf("ProcessRun(%d): %v", id, err)
			}
			if !sn.Until.Before(midnight) {
				break // the day is used: waits for the next
			}
			e.clock.Set(sn.Until)
		}
	}
	_, sends = e.run(ids[1])
	if c := e.emu.Counters(testKey); c.RateLimited > 1 {
		t.Errorf("the service answered 429 %d times (want 1, the hop's): the guard granted a slot over the service's daily quota of %d; "+
			"second run's send %s", c.RateLimited, pol.Daily, sends[0].Status)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// hopClient is a client whose primary host acts on a push and answers
// 503/1050, so that the client fails over to the emulator (the backup host).
func hopClient(t *testing.T, e *env) *pushapi.Client {
	t.Helper()
	primary := httptest.NewServer(actedThen503{next: e.emu})
	t.Cleanup(primary.Close)
	client, err := pushapi.NewClient(pushapi.ClientConfig{
		AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret), Hosts: []string{primary.URL, e.srvURL}, Timeout: 2 * time.Second, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return client
}
