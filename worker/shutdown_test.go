package worker_test

import (
	"context"
	"errors"
	"strings"
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

// startOneSend starts a worker server (concurrency 1, shutdown_timeout
// 300 ms) whose outcome records take delay, fires one run of one send and
// returns once its push has reached the emulator.
func startOneSend(t *testing.T, e *env, delay time.Duration, cfg worker.Config) (*worker.Server, []int64) {
	t.Helper()
	h, err := worker.NewHandler(worker.Deps{
		Store: slowRecordStore{Store: e.store, delay: delay}, Guard: e.guard,
		Pushers: map[string]worker.Pusher{testApp: e.client}, Clock: e.clock, Logger: testLogger(t),
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := worker.NewServer(e.rdb, h, worker.ServerConfig{
		Concurrency: 1, ShutdownTimeout: 300 * time.Millisecond, TaskCheckInterval: 20 * time.Millisecond,
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// A handler Shutdown gave up on (ErrStoppedRecording) still runs: the
	// store and Redis close, and the test ends, only once it has returned
	// (cleanups run last registered first).
	t.Cleanup(srv.WaitHandlers)
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	enqueueAll(t, e.ctx, e.rdb, ids)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(e.emu.PushesFor(testKey)) == 0 {
		if time.Now().After(deadline) {
			_ = srv.Shutdown()
			t.Fatal("nothing reached the emulator within 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return srv, ids
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
	srv, ids := startOneSend(t, e, time.Second, worker.Config{Lease: time.Minute})

	start := time.Now()
	if err := srv.Shutdown(); err != nil {
		t.Errorf("Shutdown: %v, though the record took 1 s of its 15 s", err)
	}
	took := time.Since(start)
	_, sends := e.run(ids[0])
	if sends[0].Status == campaign.SendInFlight {
		t.Errorf("Shutdown returned after %s with the send still in_flight: its outcome is recorded (if at all) after "+
			"the process has closed the store", took.Round(time.Millisecond))
	}

	// Whatever Shutdown did, the handler ends with the send unknown (the
	// push was processed by the service, its answer lost).
	deadline := time.Now().Add(10 * time.Second)
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

// TestShutdownReportsARunItGaveUpOn: when a run is still recording its
// outcome after Shutdown's bound (a store that does not answer and ignores
// its context), Shutdown stops waiting, since the process must exit, and
// says so with ErrStoppedRecording: tagcast turns that into exit 1, so an
// operator or supervisor sees a stop that may have left a send in_flight
// (later unknown) instead of a clean exit 0. A stop that waited for every
// run returns nil.
func TestShutdownReportsARunItGaveUpOn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		delay time.Duration
		want  error
	}{
		{"recorded in time", 0, nil},
		{"still recording", 4 * time.Second, worker.ErrStoppedRecording},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, envOpts{clientTimeout: 30 * time.Second})
			srv, ids := startOneSend(t, e, tc.delay, worker.Config{Lease: time.Minute, StoreTimeout: 500 * time.Millisecond})
			if tc.delay == 0 {
				// Let the record land before the stop: the clean case.
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
					if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendInFlight || time.Now().After(deadline) {
						break
					}
				}
			}
			err := srv.Shutdown()
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Shutdown: %v, want %v", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "1 run(s)") {
				t.Errorf("Shutdown's error %q does not say how many runs it gave up on", err)
			}
		})
	}
}
