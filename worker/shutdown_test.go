package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/worker"
)

// slowRecordStore is the store with a slow outcome write (a loaded
// database): RecordOutcomeAndFinish takes delay before it writes.
type slowRecordStore struct {
	worker.Store
	delay time.Duration
}

func (s slowRecordStore) RecordOutcomeAndFinish(ctx context.Context, tok campaign.ClaimToken, o campaign.Outcome) (campaign.Send, bool, error) {
	time.Sleep(s.delay) // I/O latency, not time logic
	return s.Store.RecordOutcomeAndFinish(ctx, tok, o)
}

// TestShutdownWaitsForTheOutcomeOfASendInFlight: a push is in
// flight (the service holds its answer) when SIGTERM comes, and is still in
// flight when worker.shutdown_timeout expires. asynq then cancels the
// task's context and hands the task back to the queue; the handler records
// the send's outcome on a detached context (StoreTimeout). Shutdown must
// not return before that record is written: the process closes the store
// and Redis right after it, and exits, so an outcome written later is
// lost (the send stays in_flight, its messageUID or code gone).
func TestShutdownWaitsForTheOutcomeOfASendInFlight(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{clientTimeout: 30 * time.Second})
	if err := e.emu.SetFaults(testKey, &emulator.Faults{StallSent: 1, StallFor: emulator.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	h, err := worker.NewHandler(worker.Deps{
		Store: slowRecordStore{Store: e.store, delay: time.Second}, Guard: e.guard,
		Pushers: map[string]worker.Pusher{testApp: e.client}, Clock: e.clock, Logger: testLogger(t),
	}, worker.Config{Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const shutdownTimeout = 300 * time.Millisecond
	srv, err := worker.NewServer(e.rdb, h, worker.ServerConfig{
		Concurrency: 1, ShutdownTimeout: shutdownTimeout, TaskCheckInterval: 20 * time.Millisecond,
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	enqueueAll(t, e.ctx, e.rdb, ids)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(e.emu.PushesFor(testKey)) == 0 {
		if time.Now().After(deadline) {
			srv.Shutdown()
			t.Fatal("nothing reached the emulator within 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}

	start := time.Now()
	srv.Shutdown()
	took := time.Since(start)
	_, sends := e.run(ids[0])
	if sends[0].Status == campaign.SendInFlight {
		t.Errorf("Shutdown returned after %s with the send still in_flight: its outcome is recorded (if at all) after "+
			"the process has closed the store", took.Round(time.Millisecond))
	}

	// Whatever Shutdown did, the handler ends with the send unknown (the
	// push was processed by the service, its answer lost).
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, sends = e.run(ids[0])
		if sends[0].Status != campaign.SendInFlight || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sends[0].Status != campaign.SendUnknown {
		t.Errorf("send %s, want unknown", sends[0].Status)
	}
}
