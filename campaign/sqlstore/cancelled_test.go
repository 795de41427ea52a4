package sqlstore_test

import (
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// testCancelledRunsDoNotWait: Cancel leaves sends in flight to their
// workers. One given back to wait afterwards (released after a 429, or
// left to retry) ends cancelled, not pending or retry_wait in a run no
// worker will ever take again; one the service answered is still recorded
// as answered, and one whose lease lapsed is unknown.
func testCancelledRunsDoNotWait(t *testing.T, b bundle) {
	run, sends := b.startedRun(t, 4500, 5)
	now := t0.Add(time.Second)
	var held []campaign.Send
	for _, sd := range sends[:4] {
		held = append(held, b.claim(t, sd.ID, now))
	}
	if _, err := b.store.Cancel(b.ctx, run.CampaignID, now); err != nil {
		t.Fatal(err)
	}

	released, err := b.store.RecordOutcome(b.ctx, held[0].Token(), campaign.Outcome{Status: campaign.SendPending, Code: 1008, Message: "rate limited", At: now})
	if err != nil || released.Status != campaign.SendCancelled || released.Attempts != 0 {
		t.Errorf("released after the cancel: %s, %d attempts (err %v); want cancelled, the attempt given back", released.Status, released.Attempts, err)
	}
	retry := b.send(t, held[1], now, campaign.Outcome{Status: campaign.SendRetryWait, Code: 1000, NextAttempt: now.Add(time.Minute), KeepsQuota: true})
	if retry.Status != campaign.SendCancelled || retry.LastCode != 1000 {
		t.Errorf("left to retry after the cancel: %s, code %d; want cancelled with the answer's code", retry.Status, retry.LastCode)
	}
	sent := b.send(t, held[2], now, campaign.Outcome{Status: campaign.SendSent, PushID: "p", MessageUID: "u"})
	if sent.Status != campaign.SendSent || sent.MessageUID != "u" {
		t.Errorf("answered after the cancel: %s %q, want sent with its messageUID", sent.Status, sent.MessageUID)
	}
	stale, err := b.store.ResolveStaleSends(b.ctx, now.Add(2*time.Minute)) // held[3]'s lease (1 min) lapsed
	if err != nil || len(stale) != 1 || stale[0].ID != held[3].ID || stale[0].Status != campaign.SendUnknown {
		t.Errorf("lapsed lease after the cancel: %d resolved (err %v); want send %d unknown (its call may have reached the service)", len(stale), err, held[3].ID)
	}
	_, all, err := b.store.GetRun(b.ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, sd := range all {
		if sd.Status == campaign.SendPending || sd.Status == campaign.SendRetryWait || sd.Status == campaign.SendInFlight {
			t.Errorf("send %d is %s in a cancelled run", sd.ID, sd.Status)
		}
	}

	// Outside a cancelled run a release still waits.
	_, sends2 := b.startedRun(t, 10, 1)
	if r, err := b.store.RecordOutcome(b.ctx, b.claim(t, sends2[0].ID, now).Token(), campaign.Outcome{Status: campaign.SendPending, At: now}); err != nil || r.Status != campaign.SendPending {
		t.Errorf("released in an open run: %s (err %v), want pending", r.Status, err)
	}
}
