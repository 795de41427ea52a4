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

// actedThen504 is a primary host that processes the call (the service
// counts and sends the push) and then answers 504 {"code":1050}, the
// service's own "internal service timeout": the case where a 5xx follows
// the push. (A 503 is held as not acted on: the client hops on it.)
type actedThen504 struct{ next http.Handler }

func (h actedThen504) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.next.ServeHTTP(httptest.NewRecorder(), r) // processed, its answer lost
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusGatewayTimeout)
	_, _ = w.Write([]byte(`{"code":1050,"errorMessage":"internal service timeout"}`))
}

// TestAnAnsweredPrimaryIsTheCallsOnlyCall: the primary host takes the push
// (the service counts it) and answers 504/1050. The send waits to retry,
// its slot kept and its attempt in the quota ledger (the service may have
// counted it, and here did): the client does not hop to the backup within
// the call, so one send made one call under its one reservation. After
// Redis loses its state the rebuilt windows count that attempt. Was: the
// client hopped on any 5xx and the backup pushed the same send again, two
// pushes of one send under one slot and one ledger row (found by the e2e
// harness given two hosts).
func TestAnAnsweredPrimaryIsTheCallsOnlyCall(t *testing.T) {
	t.Parallel()
	pol := quota.Policy{Hourly: 2, Daily: 3}
	e := setup(t, envOpts{policy: pol})
	client := hopClient(t, e)
	h, err := worker.NewHandler(worker.Deps{
		Store: e.store, Guard: e.guard, Pushers: map[string]worker.Pusher{testApp: client},
		Clock: e.clock, Logger: testLogger(t), Jitter: func() float64 { return 0.5 },
	}, worker.Config{Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	var sn *worker.Snooze
	if err := h.ProcessRun(e.ctx, ids[0]); err != nil && !errors.As(err, &sn) {
		t.Fatalf("ProcessRun: %v", err)
	}
	if c := e.emu.Counters(testKey); c.Accepted != 1 {
		t.Fatalf("emulator: %d accepted, want 1 (the primary took the push; the backup is not called within the call)", c.Accepted)
	}
	_, sends := e.run(ids[0])
	if sends[0].Status != campaign.SendRetryWait || sends[0].LastCode != 1050 {
		t.Errorf("after the primary's 504/1050: send %s (code %d); want retry_wait", sends[0].Status, sends[0].LastCode)
	}
	if n := ledgerCount(t, e); n != 1 {
		t.Errorf("quota ledger: %d attempts, want 1 (the 504 may have counted, and here did)", n)
	}
	e.redis.Flush(t)
	after, err := e.guard.Status(e.ctx, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Rebuilt || after.Hour.Used != 1 {
		t.Errorf("rebuilt after a flush: rebuilt %v, hour used %d; want 1: the attempt the service took", after.Rebuilt, after.Hour.Used)
	}
}

// hopClient is a client whose primary host acts on a push and answers
// 504/1050, so that the client fails over to the emulator (the backup host).
func hopClient(t *testing.T, e *env) *pushapi.Client {
	t.Helper()
	primary := httptest.NewServer(actedThen504{next: e.emu})
	t.Cleanup(primary.Close)
	client, err := pushapi.NewClient(pushapi.ClientConfig{
		AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret), Hosts: []string{primary.URL, e.srvURL}, Timeout: 2 * time.Second, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return client
}
