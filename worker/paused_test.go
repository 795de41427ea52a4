package worker_test

import (
	"testing"
	"time"
)

// Pausing a campaign deletes a run claimed ahead of its instant that no
// worker has touched. The worker holding its task drops it as done (nil:
// asynq completes the task rather than archiving it) and sends nothing.
func TestProcessRunDropsARunItsPauseDeleted(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	at := t0.Add(time.Second)
	ids := fire(t, e.ctx, e.store, 1, body(), at, t0, 0)
	run, _ := e.run(ids[0])
	if _, err := e.store.Pause(e.ctx, run.CampaignID, t0); err != nil {
		t.Fatalf("pause before the instant: %v", err)
	}
	if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Errorf("ProcessRun of a run its pause deleted = %v, want nil (task done)", err)
	}
	if n := len(e.emu.PushesFor(testKey)); n != 0 {
		t.Errorf("the emulator got %d pushes of a paused campaign", n)
	}
}
