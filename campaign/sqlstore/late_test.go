package sqlstore_test

import (
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// testLateAnswerIsRecorded: a call outlasted its lease, the send was
// resolved unknown and its run settled; then the service's 200 arrives for
// that same claim. The send becomes sent with its messageUID, the run is
// settled again, and the ledger still counts the attempt once. An answer
// for an older claim (the send retried by an operator since) is refused.
func testLateAnswerIsRecorded(t *testing.T, b bundle) {
	run, sends := b.startedRun(t, 1500, 2)
	now := t0.Add(time.Second)
	slow := b.claim(t, sends[0].ID, now)
	b.send(t, b.claim(t, sends[1].ID, now), now, campaign.Outcome{Status: campaign.SendSent, PushID: "p1", MessageUID: "u1"})
	later := now.Add(2 * time.Minute) // the 1-minute lease has lapsed
	if stale, err := b.store.ResolveStaleSends(b.ctx, later); err != nil || len(stale) != 1 || stale[0].Status != campaign.SendUnknown {
		t.Fatalf("resolve: %v %v, want the slow send unknown", stale, err)
	}
	if r, err := b.store.FinishRun(b.ctx, run.ID, later); err != nil || r.Status != campaign.RunPartiallyFailed {
		t.Fatalf("finish: %v %v, want partially_failed", r.Status, err)
	}

	got, finished, err := b.store.RecordOutcomeAndFinish(b.ctx, slow.Token(),
		campaign.Outcome{Status: campaign.SendSent, PushID: "p0", MessageUID: "u0", At: later.Add(time.Second)})
	if err != nil || got.Status != campaign.SendSent || got.MessageUID != "u0" || got.PushID != "p0" || !finished {
		t.Fatalf("late 200: %s %q finished %v (err %v); want sent with its messageUID, the run finished", got.Status, got.MessageUID, finished, err)
	}
	r, _, err := b.store.GetRun(b.ctx, run.ID)
	if err != nil || r.Status != campaign.RunDone {
		t.Errorf("run after the late answer: %s (err %v), want done", r.Status, err)
	}
	if l, err := b.store.SentBetween(b.ctx, "main", now, later.Add(time.Hour)); err != nil || len(l) != 2 {
		t.Errorf("ledger: %v (err %v), want 2 attempts (the late one counted once)", l, err)
	}
	if _, err := b.store.RecordOutcome(b.ctx, slow.Token(), campaign.Outcome{Status: campaign.SendSent, At: later}); err == nil {
		t.Error("a second answer for a sent send was accepted")
	}

	// An answer of an older claim: the unknown send was retried by an
	// operator since (a new claim), so the old answer is refused.
	run2, sends2 := b.startedRun(t, 10, 1)
	old := b.claim(t, sends2[0].ID, now)
	if _, err := b.store.ResolveStaleSends(b.ctx, later); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.FinishRun(b.ctx, run2.ID, later); err != nil {
		t.Fatal(err)
	}
	if n, err := b.store.ResetForRetry(b.ctx, run2.ID, campaign.RetryOptions{Unknown: true}, later); err != nil || n != 1 {
		t.Fatalf("retry: %d %v", n, err)
	}
	if _, err := b.store.StartRun(b.ctx, run2.ID, later); err != nil {
		t.Fatal(err)
	}
	b.claim(t, sends2[0].ID, later)
	_, err = b.store.RecordOutcome(b.ctx, old.Token(), campaign.Outcome{Status: campaign.SendSent, MessageUID: "stale", At: later})
	wantTransitionError(t, err, "the answer of an older claim")
}

// testLateGiveBack: a worker paused past its claim's lease, so the
// reconciler settled the send unknown (and counted it in the quota
// ledger); then the worker decides not to call (its slot or the run's
// deliver_by passed) and gives the claim back. No push went out under
// that claim: the send goes back to pending, its attempt and its ledger
// entry unspent, while its run is open. It used to stay unknown, a push
// never sent waiting for an operator's `retry --unknown`. A run settled
// meanwhile keeps the send unknown (the operator's retry is the way), and
// a give-back of an older claim is refused.
func testLateGiveBack(t *testing.T, b bundle) {
	_, sends := b.startedRun(t, 1500, 2)
	now := t0.Add(time.Second)
	paused := b.claim(t, sends[0].ID, now)
	later := now.Add(2 * time.Minute) // the 1-minute lease has lapsed
	if stale, err := b.store.ResolveStaleSends(b.ctx, later); err != nil || len(stale) != 1 || stale[0].Status != campaign.SendUnknown {
		t.Fatalf("resolve: %v %v, want the paused send unknown", stale, err)
	}
	if l, err := b.store.SentBetween(b.ctx, "main", now, later.Add(time.Hour)); err != nil || len(l) != 1 {
		t.Fatalf("ledger after resolve: %v (err %v), want the lapsed attempt", l, err)
	}
	got, err := b.store.RecordOutcome(b.ctx, paused.Token(), campaign.Outcome{Status: campaign.SendPending, Message: "its quota slot was too old before the call: not sent", At: later})
	if err != nil || got.Status != campaign.SendPending || got.Attempts != 0 || got.SentAt != nil {
		t.Fatalf("late give-back: %s, %d attempts, sent_at %v (err %v); want pending, the attempt unspent", got.Status, got.Attempts, got.SentAt, err)
	}
	if l, err := b.store.SentBetween(b.ctx, "main", now, later.Add(time.Hour)); err != nil || len(l) != 0 {
		t.Errorf("ledger after the give-back: %v (err %v), want nothing: no push went out", l, err)
	}
	if again := b.claim(t, sends[0].ID, later); again.Claim != paused.Claim+1 || again.Attempts != 1 {
		t.Errorf("claimed again: claim %d, %d attempts; want claim %d, attempt 1", again.Claim, again.Attempts, paused.Claim+1)
	}
	if _, err := b.store.RecordOutcome(b.ctx, paused.Token(), campaign.Outcome{Status: campaign.SendPending, At: later}); err == nil {
		t.Error("a give-back of the older claim was accepted")
	}

	// The run settled meanwhile (its send unknown): the give-back is
	// refused and the send stays unknown, for an operator's retry.
	run2, sends2 := b.startedRun(t, 10, 1)
	old := b.claim(t, sends2[0].ID, now)
	if _, err := b.store.ResolveStaleSends(b.ctx, later); err != nil {
		t.Fatal(err)
	}
	if r, err := b.store.FinishRun(b.ctx, run2.ID, later); err != nil || r.Status != campaign.RunFailed {
		t.Fatalf("finish: %v %v, want failed", r.Status, err)
	}
	_, err = b.store.RecordOutcome(b.ctx, old.Token(), campaign.Outcome{Status: campaign.SendPending, At: later})
	wantTransitionError(t, err, "a give-back after the run settled")
	if _, s2, err := b.store.GetRun(b.ctx, run2.ID); err != nil || s2[0].Status != campaign.SendUnknown {
		t.Errorf("send of the settled run: %v (err %v), want unknown", s2, err)
	}
}

// testLateNotSent: as testLateGiveBack, for a call whose answer says it
// sent nothing, heard after the lease lapsed: a refusal (1009, failed) and
// a request never written (connection refused: retry_wait). Each send
// takes its outcome as if it had come in time, its ledger entry gone: the
// refusal is failed (an operator's plain retry, no duplicate to fear), the
// unwritten call is retried by its worker. Was: both stayed unknown, and
// the push never sent waited for `retry --unknown`. An outcome that may
// have sent (KeepsQuota: a 5xx) is refused, and the send stays unknown.
func testLateNotSent(t *testing.T, b bundle) {
	_, sends := b.startedRun(t, 2500, 3)
	now := t0.Add(time.Second)
	later := now.Add(2 * time.Minute) // the 1-minute lease has lapsed
	claims := make([]campaign.Send, 3)
	for i, sd := range sends {
		claims[i] = b.claim(t, sd.ID, now)
	}
	if stale, err := b.store.ResolveStaleSends(b.ctx, later); err != nil || len(stale) != 3 {
		t.Fatalf("resolve: %v %v, want the three sends unknown", stale, err)
	}
	refused, err := b.store.RecordOutcome(b.ctx, claims[0].Token(), campaign.Outcome{Status: campaign.SendFailed, Code: 1009, Message: "not enabled", At: later})
	if err != nil || refused.Status != campaign.SendFailed || refused.LastCode != 1009 || refused.Attempts != 1 {
		t.Errorf("late refusal: %s code %d, %d attempts (err %v); want failed 1009, its attempt spent", refused.Status, refused.LastCode, refused.Attempts, err)
	}
	next := later.Add(30 * time.Second)
	unwritten, err := b.store.RecordOutcome(b.ctx, claims[1].Token(), campaign.Outcome{Status: campaign.SendRetryWait, Message: "request not sent: connection refused", NextAttempt: next, At: later})
	if err != nil || unwritten.Status != campaign.SendRetryWait || unwritten.NextAttemptAt == nil || !unwritten.NextAttemptAt.Equal(next) {
		t.Errorf("late unwritten call: %s, next attempt %v (err %v); want retry_wait at %s", unwritten.Status, unwritten.NextAttemptAt, err, next)
	}
	_, err = b.store.RecordOutcome(b.ctx, claims[2].Token(), campaign.Outcome{Status: campaign.SendRetryWait, Code: 502, KeepsQuota: true, NextAttempt: next, At: later})
	wantTransitionError(t, err, "a late 5xx (it may have sent)")
	if l, err := b.store.SentBetween(b.ctx, "main", now, later.Add(time.Hour)); err != nil || len(l) != 1 {
		t.Errorf("ledger: %v (err %v), want the one attempt that may have sent", l, err)
	}
}
