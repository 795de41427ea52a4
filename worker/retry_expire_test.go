package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// A run re-opened by an operator retry whose fresh deliver_within passes
// before a worker starts it, while sends of its first pass were sent:
// the worker must settle it (expire what is left), not spin on it until
// the task's deadline.
func TestProcessRetriedRunPastDeliverBy(t *testing.T) {
	e := setup(t, envOpts{})
	push := body()
	push.Audience.Tag = nil
	for i := range 1500 {
		push.Audience.UserID = append(push.Audience.UserID, fmt.Sprintf("u%d", i))
	}
	ids := fire(t, e.ctx, e.store, 1, push, t0, t0, time.Hour)
	runID := ids[0]
	_, sends, err := e.store.GetRun(e.ctx, runID)
	if err != nil || len(sends) != 2 {
		t.Fatalf("GetRun = %d sends, %v; want 2", len(sends), err)
	}
	settle := func(sd campaign.Send, st campaign.SendStatus) {
		c, err := e.store.ClaimSend(e.ctx, sd.ID, t0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.RecordOutcome(e.ctx, c.Token(), campaign.Outcome{Status: st, Code: 1002, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	settle(sends[0], campaign.SendSent)
	settle(sends[1], campaign.SendFailed)
	if r, err := e.store.FinishRun(e.ctx, runID, t0); err != nil || r.Status != campaign.RunPartiallyFailed {
		t.Fatalf("FinishRun = %s, %v", r.Status, err)
	}
	if _, err := e.store.ResetForRetry(e.ctx, runID, campaign.RetryOptions{}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(t0.Add(3 * time.Hour)) // past the retry's deliver_by (+2h)

	ctx, cancel := context.WithTimeout(e.ctx, 3*time.Second)
	defer cancel()
	if err := e.handler.ProcessRun(ctx, runID); err != nil {
		t.Fatalf("ProcessRun = %v; want the run settled", err)
	}
	r, _, err := e.store.GetRun(e.ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != campaign.RunPartiallyFailed {
		t.Errorf("run = %s, want partially_failed", r.Status)
	}
}
