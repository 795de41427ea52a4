package sqlstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/campaign"
)

// testClaimFirstSend: a worker that has not read a run claims its first
// send only while the run is pending, of the app named, due and not past
// its deliver_by; anything else writes nothing.
func testClaimFirstSend(t *testing.T, b bundle) {
	run, sends := b.fire(t, 2500) // three sends; deliver_by = t0 + 1h
	if run.DeliverBy == nil || !run.DeliverBy.Equal(t0.Add(time.Hour)) {
		t.Fatalf("deliver_by %v, want t0+1h", run.DeliverBy)
	}
	unchanged := func(what string) {
		t.Helper()
		r, got, err := b.store.GetRun(b.ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != campaign.RunPending {
			t.Errorf("%s: run %s, want pending", what, r.Status)
		}
		for _, sd := range got {
			if sd.Status != campaign.SendPending || sd.Attempts != 0 || sd.Claim != 0 || sd.SentAt != nil {
				t.Errorf("%s: send %d %s, %d attempts, claim %d, sent_at %v; want untouched", what, sd.Index, sd.Status, sd.Attempts, sd.Claim, sd.SentAt)
			}
		}
	}
	for _, c := range []struct {
		what string
		app  string
		at   time.Time
	}{
		{"a microsecond before its instant", "main", t0.Add(-time.Microsecond)},
		{"another app's name", "other", t0},
		{"at its deliver_by", "main", t0.Add(time.Hour)},
		{"after its deliver_by", "main", t0.Add(2 * time.Hour)},
	} {
		sd, _, claimed, err := b.store.ClaimFirstSend(b.ctx, run.ID, c.app, c.at, time.Minute)
		if err != nil || claimed {
			t.Fatalf("%s: ClaimFirstSend = send %d, %v, %v; want not claimed", c.what, sd.ID, claimed, err)
		}
		unchanged(c.what)
	}
	if _, _, _, err := b.store.ClaimFirstSend(b.ctx, run.ID, "main", t0, 0); err == nil {
		t.Error("a zero lease was accepted")
	}

	named, ok := b.store.(interface{ SetClaimant(string) })
	if !ok {
		t.Fatalf("%T has no SetClaimant", b.store)
	}
	named.SetClaimant("host-a:101")
	at := t0.Add(30 * time.Second)
	sd, deliverBy, claimed, err := b.store.ClaimFirstSend(b.ctx, run.ID, "main", at, time.Minute)
	if err != nil || !claimed {
		t.Fatalf("ClaimFirstSend of a due pending run = %v, %v; want claimed", claimed, err)
	}
	// The worker has not read the run: the claim tells it the run's
	// deliver_by, for its last look before the call.
	if deliverBy == nil || !deliverBy.Equal(*run.DeliverBy) {
		t.Errorf("ClaimFirstSend returned deliver_by %v, want the run's %s", deliverBy, run.DeliverBy)
	}
	if sd.ID != sends[0].ID || sd.Status != campaign.SendInFlight || sd.Attempts != 1 || sd.Claim != 1 ||
		sd.SentAt == nil || !sd.SentAt.Equal(at) || sd.ClaimedAt == nil || !sd.ClaimedAt.Equal(at) ||
		sd.LeaseUntil == nil || !sd.LeaseUntil.Equal(at.Add(time.Minute)) || sd.ClaimedBy != "host-a:101" {
		t.Errorf("claimed send %d: %s, attempts %d, claim %d, sent_at %v, claimed_at %v, lease %v, by %q; want send %d in flight, attempt 1 begun at %s, leased a minute, by host-a:101",
			sd.ID, sd.Status, sd.Attempts, sd.Claim, sd.SentAt, sd.ClaimedAt, sd.LeaseUntil, sd.ClaimedBy, sends[0].ID, at)
	}
	if diff := cmp.Diff(sends[0].Body, sd.Body); diff != "" {
		t.Errorf("claimed body (-stored +claimed):\n%s", diff)
	}
	r, got, err := b.store.GetRun(b.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != campaign.RunRunning || got[1].Status != campaign.SendPending || got[2].Status != campaign.SendPending {
		t.Errorf("after the claim: run %s, sends 1 and 2 %s, %s; want running, pending, pending", r.Status, got[1].Status, got[2].Status)
	}
	if ledger, err := b.store.SentBetween(b.ctx, "main", t0, t0.Add(time.Hour)); err != nil || len(ledger) != 1 {
		t.Errorf("quota ledger %v, %v; want the attempt in flight counted", ledger, err)
	}
	// Started: the fast claim is over, whatever the sends' states.
	if _, _, claimed, err := b.store.ClaimFirstSend(b.ctx, run.ID, "main", at, time.Minute); err != nil || claimed {
		t.Errorf("second ClaimFirstSend = %v, %v; want not claimed", claimed, err)
	}
	b.send(t, sd, at, campaign.Outcome{Status: campaign.SendPending, Message: "429"})
	if _, _, claimed, err := b.store.ClaimFirstSend(b.ctx, run.ID, "main", at, time.Minute); err != nil || claimed {
		t.Errorf("ClaimFirstSend of a running run whose first send was given back = %v, %v; want not claimed", claimed, err)
	}

	// A cancelled run, and a run whose first send is not pending.
	c := b.create(t, newCampaign("main", "to-cancel", t0, 0))
	runs, err := b.store.ClaimDue(b.ctx, t0, t0, 10, plan)
	if err != nil || len(runs) != 1 {
		t.Fatalf("ClaimDue = %v, %v", runs, err)
	}
	if _, err := b.store.Cancel(b.ctx, c.ID, t0); err != nil {
		t.Fatal(err)
	}
	if _, _, claimed, err := b.store.ClaimFirstSend(b.ctx, runs[0].ID, "main", at, time.Minute); err != nil || claimed {
		t.Errorf("ClaimFirstSend of a cancelled run = %v, %v; want not claimed", claimed, err)
	}
	if _, _, claimed, err := b.store.ClaimFirstSend(b.ctx, 987654, "main", at, time.Minute); err != nil || claimed {
		t.Errorf("ClaimFirstSend of no run = %v, %v; want not claimed", claimed, err)
	}
}

// testClaimFirstSendRace: workers race for runs' first sends, half through
// ClaimFirstSend and half through ClaimSend, and a Cancel races them: each
// first send is claimed at most once, a run is running exactly when its
// first send was claimed, and a cancelled run has no claim.
func testClaimFirstSendRace(t *testing.T, b bundle) {
	const runs, workers = 20, 6
	type fired struct {
		campaign, run, first int64
	}
	var all []fired
	for i := range runs {
		c := b.create(t, newCampaign("main", fmt.Sprintf("race-%d", i), t0, 0))
		rs, err := b.store.ClaimDue(b.ctx, t0, t0, 10, plan)
		if err != nil || len(rs) != 1 {
			t.Fatalf("ClaimDue = %v, %v", rs, err)
		}
		_, sends, err := b.store.GetRun(b.ctx, rs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, fired{c.ID, rs[0].ID, sends[0].ID})
	}
	var mu sync.Mutex
	claims := map[int64]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for _, f := range all {
				var err error
				claimed := false
				if w%2 == 0 {
					_, _, claimed, err = b.store.ClaimFirstSend(b.ctx, f.run, "main", t0, time.Minute)
				} else {
					_, err = b.store.ClaimSend(b.ctx, f.first, t0, time.Minute)
					claimed = err == nil
					if errors.Is(err, campaign.ErrIllegalTransition) {
						err = nil
					}
				}
				if err != nil {
					t.Errorf("run %d: %v", f.run, err)
					return
				}
				if claimed {
					mu.Lock()
					claims[f.run]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Go(func() {
		<-start
		for i, f := range all {
			if i%3 == 0 {
				if _, err := b.store.Cancel(b.ctx, f.campaign, t0); err != nil {
					t.Errorf("cancel campaign %d: %v", f.campaign, err)
				}
			}
		}
	})
	close(start)
	wg.Wait()
	for _, f := range all {
		r, sends, err := b.store.GetRun(b.ctx, f.run)
		if err != nil {
			t.Fatal(err)
		}
		n := claims[f.run]
		switch {
		case n > 1:
			t.Errorf("run %d: first send claimed %d times", f.run, n)
		case n == 1 && (sends[0].Status != campaign.SendInFlight || sends[0].Attempts != 1):
			t.Errorf("run %d: claimed once, send %s with %d attempts", f.run, sends[0].Status, sends[0].Attempts)
		case n == 1 && r.Status != campaign.RunRunning && r.Status != campaign.RunCancelled:
			t.Errorf("run %d: claimed, run %s", f.run, r.Status)
		case n == 0 && r.Status != campaign.RunCancelled:
			t.Errorf("run %d: never claimed, run %s; want cancelled", f.run, r.Status)
		case n == 0 && sends[0].Status != campaign.SendCancelled:
			t.Errorf("run %d: cancelled before any claim, send %s", f.run, sends[0].Status)
		}
	}
}
