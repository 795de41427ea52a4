package worker_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/worker"
)

// TestFastAndStorePathsRace: every run's task is delivered
// twice at once, once with hints (the first-send fast path) and once
// without (ProcessRun), while a third of the campaigns are cancelled. Then
// the runs are driven to their end. Checked: no send is pushed twice, every
// send of a run not cancelled is pushed, nothing is left in flight, and the
// quota counts exactly the pushes (every speculative slot given back).
func TestFastAndStorePathsRace(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	one := fire(t, e.ctx, e.store, 8, body(), t0, t0, 0)
	two := fire(t, e.ctx, e.store, 8, twoSendBody(), t0, t0, 0)
	ids := append(append([]int64{}, one...), two...)
	fast, cs := counted(t, e)
	e.clock.Set(t0.Add(time.Second))

	campaignOf := map[int64]int64{}
	for _, id := range ids {
		r, _ := e.run(id)
		campaignOf[id] = r.CampaignID
	}
	ok := func(err error) bool {
		var s *worker.Snooze
		return err == nil || errors.As(err, &s)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	start := make(chan struct{})
	for i, id := range ids {
		wg.Go(func() {
			<-start
			if err := fast.ProcessTask(e.ctx, hintedTask(t, id, testApp, t0)); !ok(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("fast path, run %d: %w", id, err))
				mu.Unlock()
			}
		})
		wg.Go(func() {
			<-start
			task, err := queue.NewRunSendTask(queue.RunSendPayload{RunID: id}, queue.Options{})
			if err != nil {
				panic(err)
			}
			if err := e.handler.ProcessTask(e.ctx, task); !ok(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("store path, run %d: %w", id, err))
				mu.Unlock()
			}
		})
		if i%3 == 0 {
			wg.Go(func() {
				<-start
				if _, err := e.store.Cancel(e.ctx, campaignOf[id], t0.Add(time.Second)); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("cancel: %w", err))
					mu.Unlock()
				}
			})
		}
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	// Snoozed tasks come back: drive every run to its end.
	for _, id := range ids {
		for range 5 {
			if r, _ := e.run(id); r.Status != campaign.RunPending && r.Status != campaign.RunRunning {
				break
			}
			if err := e.handler.ProcessRun(e.ctx, id); !ok(err) {
				t.Errorf("redelivery of run %d: %v", id, err)
			}
		}
	}
	pushed := map[string]int{}
	total := 0
	for _, p := range e.emu.PushesFor(testKey) {
		first := ""
		if len(p.Request.Audience.UserID) > 0 {
			first = p.Request.Audience.UserID[0]
		}
		pushed[p.Request.Notification.Alert+"|"+first]++
		total++
	}
	for k, n := range pushed {
		if n > 1 {
			t.Errorf("send %s pushed %d times", k, n)
		}
	}
	for _, id := range ids {
		r, sends := e.run(id)
		for _, sd := range sends {
			if sd.Status == campaign.SendInFlight {
				t.Errorf("run %d (%s) send %d left in flight", id, r.Status, sd.Index)
			}
		}
		if r.Status != campaign.RunCancelled && r.Status != campaign.RunDone {
			t.Errorf("run %d ended %s, want done or cancelled", id, r.Status)
		}
		if r.Status == campaign.RunDone {
			for _, sd := range sends {
				if sd.Status != campaign.SendSent {
					t.Errorf("done run %d: send %d %s", id, sd.Index, sd.Status)
				}
			}
		}
	}
	t.Logf("%d pushes; fast path: %d first claims tried, %d reads of a run", total, cs.claimFirst.Load(), cs.getRun.Load())
	if st, err := e.guard.Status(e.ctx, testApp); err != nil || st.Hour.Used != total {
		t.Errorf("quota hour used %d (%v), want %d (the pushes)", st.Hour.Used, err, total)
	}
}
