package worker_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/worker"
)

// A run of two sends (a user-id audience over 1000 ids) is due first; a
// one-send run of the same app is due a second later. Both wait for the
// same opening of two slots. The earlier run is due both slots: the later
// one must wait its turn. Counted as one place per run, the later run,
// asking first, was granted one of the two (one place ahead, room for two),
// and the earlier run's second send waited for the next opening, past its
// deliver_by.
func TestMultiSendRunKeepsItsTurnForEverySend(t *testing.T) {
	t.Parallel()
	push := body()
	push.Audience.Tag = nil
	for i := range 1500 {
		push.Audience.UserID = append(push.Audience.UserID, fmt.Sprintf("u%d", i))
	}
	e, first, later, h, g := twoWaiting(t, waitOpts{hourly: 2, firstPush: &push, firstWithin: 90 * time.Minute})
	if _, sends := e.run(first); len(sends) != 2 {
		t.Fatalf("the earlier run has %d sends, want 2", len(sends))
	}
	laterDone := make(chan error, 1)
	go func() { laterDone <- h.ProcessRun(e.ctx, later) }()
	select {
	case <-g.turned:
		// Its turn comes after the earlier run's two sends.
		if err := e.handler.ProcessRun(e.ctx, first); err != nil {
			t.Fatalf("the earlier run at the opening: %v, want both sends sent", err)
		}
		var s *worker.Snooze
		if err := <-laterDone; !errors.As(err, &s) || s.Reason != "quota" {
			t.Errorf("the later run: %v, want a snooze for the next opening", err)
		}
		if run, sends := e.run(first); run.Status != campaign.RunDone || sends[0].Status != campaign.SendSent || sends[1].Status != campaign.SendSent {
			t.Errorf("the earlier run %s, sends %s and %s; want done, both sent", run.Status, sends[0].Status, sends[1].Status)
		}
		return
	case err := <-laterDone:
		_, sends := e.run(later)
		t.Errorf("the later run asked first and ended (%v), its send %s: it took one of the 2 slots the earlier run (2 sends, due first) waits for", err, sends[0].Status)
	case <-time.After(10 * time.Second):
		t.Fatal("the later run neither ended nor was refused by the line within 10 s")
	}

	// What it costs the earlier run: its second send waits an hour more,
	// past its deliver_by, and never goes out.
	var s *worker.Snooze
	if err := e.handler.ProcessRun(e.ctx, first); !errors.As(err, &s) || s.Reason != "quota" {
		t.Fatalf("the earlier run at the opening: %v", err)
	}
	_, sends := e.run(first)
	t.Errorf("the earlier run's sends after the opening: %s, %s; the next opening is after its deliver_by: it wakes at %s only to expire",
		sends[0].Status, sends[1].Status, s.Until.Format(time.RFC3339))
	e.clock.Set(s.Until)
	if err := e.handler.ProcessRun(e.ctx, first); err != nil {
		t.Fatalf("the earlier run at its deliver_by: %v", err)
	}
	if run, sends := e.run(first); run.Status != campaign.RunDone {
		t.Errorf("the earlier run ended %s (sends %s, %s), want done: the later run took its slot", run.Status, sends[0].Status, sends[1].Status)
	}
}
