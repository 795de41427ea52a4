package worker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// TestHintedQuotaWaitStopsAtDeliverBy: README promises "a run
// whose next attempt or quota opening lies past its deliver_by wakes at
// deliver_by and expires". A run's first task carries hints (app, instant)
// and is processed by firstSend without reading the run, so it does not
// know deliver_by: when the quota is full it snoozes to the opening (capped
// by worker.max_snooze, 15 min by default), not to deliver_by. The run
// stays pending long past its deliver_by (an operator can neither see it
// expired nor retry it); with a larger max_snooze, up to the opening itself.
func TestHintedQuotaWaitStopsAtDeliverBy(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 1, Daily: 3}})
	const within = 2 * time.Minute

	first := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	late := fire(t, e.ctx, e.store, 1, body(), t0.Add(time.Second), t0, within)[0]
	deliverBy := t0.Add(time.Second + within)

	e.clock.Set(t0)
	if err := e.handler.ProcessRun(e.ctx, first[0]); err != nil {
		t.Fatal(err)
	}

	// The scheduler's task of the second run, delivered at its instant:
	// the hour is full until 10:00:10 Shanghai (02:00:10 UTC), long past its deliver_by.
	e.clock.Set(t0.Add(time.Second))
	var s *worker.Snooze
	if err := e.handler.ProcessTask(e.ctx, hintedTask(t, late, testApp, t0.Add(time.Second))); !errors.As(err, &s) {
		t.Fatalf("ProcessTask = %v, want a snooze", err)
	}
	run, sends := e.run(late)
	if run.Status != campaign.RunPending || sends[0].Status != campaign.SendPending {
		t.Fatalf("run %s, send %s; want both pending", run.Status, sends[0].Status)
	}
	if back := e.clock.Now().Add(s.Delay); s.Until.After(deliverBy) || back.After(deliverBy.Add(time.Minute)) {
		t.Errorf("the run snoozes (%s) until %s, delay %s, back at %s: %s past its deliver_by %s, pending with nothing it can still send",
			s.Reason, s.Until.Format(time.TimeOnly), s.Delay, back.Format(time.TimeOnly), back.Sub(deliverBy), deliverBy.Format(time.TimeOnly))
	}
}
