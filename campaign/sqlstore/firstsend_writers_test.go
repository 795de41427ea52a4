package sqlstore_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/internal/testenv"
)

// TestClaimFirstSendRacesEveryWriter: on PostgreSQL,
// ClaimFirstSend races ClaimSend of both sends, ExpireRun, Cancel and an
// operator retry (ResetForRetry) of runs that had failed. Checked: no
// statement fails (a deadlock would), no send is claimed twice, a claimed
// send is in flight, and a run is running only with a send in flight (never
// started without its claim).
func TestClaimFirstSendRacesEveryWriter(t *testing.T) {
	t.Parallel()
	st := openMigrated(t, testenv.Postgres(t))
	b := bundle{ctx: t.Context(), store: st}
	const (
		fresh   = 24 // pending runs of two sends
		retried = 12 // failed runs, re-opened while the claims race
		rounds  = 3
	)
	type fired struct {
		campaign, run int64
		sends         []int64
		retry         bool
	}
	var all []fired
	mk := func(i int, retry bool) {
		c := b.create(t, newCampaign("main", fmt.Sprintf("r-%v-%d", retry, i), t0, 1500))
		rs, err := st.ClaimDue(b.ctx, t0, t0, 10, plan)
		if err != nil || len(rs) != 1 {
			t.Fatalf("ClaimDue = %v, %v", rs, err)
		}
		_, sends, err := st.GetRun(b.ctx, rs[0].ID)
		if err != nil || len(sends) != 2 {
			t.Fatalf("GetRun: %d sends, %v", len(sends), err)
		}
		f := fired{campaign: c.ID, run: rs[0].ID, sends: []int64{sends[0].ID, sends[1].ID}, retry: retry}
		if retry { // both sends fail: the run is failed, retryable
			for _, id := range f.sends {
				sd := b.claim(t, id, t0)
				b.send(t, sd, t0, campaign.Outcome{Status: campaign.SendFailed, Code: 1001, Message: "bad"})
			}
			if r, err := st.FinishRun(b.ctx, f.run, t0); err != nil || r.Status != campaign.RunFailed {
				t.Fatalf("finish: %s, %v", r.Status, err)
			}
		}
		all = append(all, f)
	}
	for i := range fresh {
		mk(i, false)
	}
	for i := range retried {
		mk(i, true)
	}
	claimNow := t0.Add(30 * time.Second)
	late := t0.Add(2 * time.Hour) // past every fresh run's deliver_by

	var mu sync.Mutex
	claims := map[int64]int{} // send id -> successful claims
	var errs []string
	fail := func(format string, a ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, a...))
		mu.Unlock()
	}
	claimed := func(id int64) {
		mu.Lock()
		claims[id]++
		mu.Unlock()
	}
	benign := func(err error) bool {
		return err == nil || errors.Is(err, campaign.ErrIllegalTransition)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			<-start
			for range rounds {
				for _, f := range all {
					sd, _, ok, err := st.ClaimFirstSend(b.ctx, f.run, "main", claimNow, time.Minute)
					if err != nil {
						fail("worker %d ClaimFirstSend run %d: %v", w, f.run, err)
						continue
					}
					if ok {
						claimed(sd.ID)
					}
				}
			}
		})
	}
	for idx := range 2 {
		wg.Go(func() {
			<-start
			for range rounds {
				for _, f := range all {
					sd, err := st.ClaimSend(b.ctx, f.sends[idx], claimNow, time.Minute)
					switch {
					case err == nil:
						claimed(sd.ID)
					case !benign(err):
						fail("ClaimSend %d: %v", f.sends[idx], err)
					}
				}
			}
		})
	}
	wg.Go(func() {
		<-start
		for i, f := range all {
			if f.retry {
				if _, err := st.ResetForRetry(b.ctx, f.run, campaign.RetryOptions{}, claimNow); !benign(err) {
					fail("ResetForRetry %d: %v", f.run, err)
				}
			} else if i%2 == 0 {
				if _, err := st.ExpireRun(b.ctx, f.run, late); !benign(err) {
					fail("ExpireRun %d: %v", f.run, err)
				}
			}
		}
	})
	wg.Go(func() {
		<-start
		for i, f := range all {
			if i%3 == 0 {
				if _, err := st.Cancel(b.ctx, f.campaign, claimNow); !benign(err) {
					fail("Cancel %d: %v", f.campaign, err)
				}
			}
		}
	})
	close(start)
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
		if strings.Contains(e, "deadlock") {
			t.Error("deadlock detected")
		}
	}
	for _, f := range all {
		r, sends, err := st.GetRun(b.ctx, f.run)
		if err != nil {
			t.Fatal(err)
		}
		inFlight := 0
		for _, sd := range sends {
			n := claims[sd.ID]
			if n > 1 {
				t.Errorf("run %d send %d claimed %d times", f.run, sd.Index, n)
			}
			if (n == 1) != (sd.Status == campaign.SendInFlight) {
				t.Errorf("run %d send %d: %d claims, status %s", f.run, sd.Index, n, sd.Status)
			}
			if sd.Status == campaign.SendInFlight {
				inFlight++
			}
		}
		if r.Status == campaign.RunRunning && inFlight == 0 {
			t.Errorf("run %d (retry %v) running with no send in flight: started without its claim", f.run, f.retry)
		}
		if r.Status == campaign.RunPending && inFlight > 0 {
			t.Errorf("run %d pending with %d sends in flight", f.run, inFlight)
		}
	}
}
