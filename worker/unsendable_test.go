package worker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

// A fire whose rendered body breaks pushapi's rules (the campaign's title
// names the weekday: 50 characters on a Monday, 53 on this Wednesday) can
// never be sent: its run is created failed, naming notification.title, and
// the worker has nothing to wait for. It was created pending, and the
// worker reserved a quota slot before the client refused the body: with the
// day's quota used up, the run waited for the next day and ended expired,
// its cause named nowhere.
func TestUnsendableBodyFailsWithoutWaitingForQuota(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{policy: quota.Policy{Hourly: 1, Daily: 1}})
	wednesday := t0.AddDate(0, 0, 2)
	e.clock.Set(wednesday)
	used := fire(t, e.ctx, e.store, 1, body(), wednesday, wednesday, 0)
	if err := e.handler.ProcessRun(e.ctx, used[0]); err != nil {
		t.Fatal(err) // the day's only slot
	}

	bad := body()
	bad.Notification.Title = `Sale: 30% off all winter coats until {{.FireTime.Format "Monday"}} night!`
	ids := fire(t, e.ctx, e.store, 1, bad, wednesday, wednesday, 2*time.Hour)
	for range 5 {
		err := e.handler.ProcessRun(e.ctx, ids[0])
		var s *worker.Snooze
		if !errors.As(err, &s) {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		e.clock.Set(s.Until)
	}
	run, sends := e.run(ids[0])
	if run.Status != campaign.RunFailed {
		t.Errorf("run %s (send: %s %q) %s after its instant; want failed at once, naming notification.title",
			run.Status, sends[0].Status, sends[0].LastMessage, e.clock.Now().Sub(wednesday))
	}
}
