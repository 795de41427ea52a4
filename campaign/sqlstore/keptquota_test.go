package sqlstore_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/campaign"
)

// testKeptQuotaIsLedgered: a retry_wait or failed attempt that kept its
// quota reservation (a 5xx answer: the service may count it) is in the
// quota ledger like a sent or unknown one, so windows rebuilt after Redis
// lost them count what the guard counted; a released one is not. A later
// attempt of the same send (a new claim) has an entry of its own.
func testKeptQuotaIsLedgered(t *testing.T, b bundle) {
	_, sends := b.startedRun(t, 3500, 4)
	now := t0.Add(time.Second)
	retryAt := now.Add(5 * time.Second)
	s0 := b.send(t, b.claim(t, sends[0].ID, now), now,
		campaign.Outcome{Status: campaign.SendRetryWait, Code: 1000, NextAttempt: retryAt, KeepsQuota: true})
	b.send(t, b.claim(t, sends[1].ID, now), now.Add(time.Second),
		campaign.Outcome{Status: campaign.SendRetryWait, NextAttempt: retryAt, Message: "connection refused before writing"})
	b.send(t, b.claim(t, sends[2].ID, now.Add(2*time.Second)), now.Add(2*time.Second),
		campaign.Outcome{Status: campaign.SendFailed, Code: 1000, Message: "giving up after 5 attempts", KeepsQuota: true})
	b.send(t, b.claim(t, sends[3].ID, now), now.Add(3*time.Second),
		campaign.Outcome{Status: campaign.SendFailed, Code: 1002, Message: "parameter error"})
	if s0.Status != campaign.SendRetryWait {
		t.Fatalf("send 0: %s, want retry_wait", s0.Status)
	}
	b.send(t, b.claim(t, s0.ID, retryAt.Add(time.Second)), retryAt.Add(time.Second), campaign.Outcome{Status: campaign.SendSent, PushID: "p", MessageUID: "u"})

	ledger, err := b.store.SentBetween(b.ctx, "main", now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{now, now.Add(2 * time.Second), retryAt.Add(time.Second)}
	if diff := cmp.Diff(want, ledger); diff != "" {
		t.Errorf("ledger: kept reservations and the sent retry count, released ones do not (-want +got):\n%s", diff)
	}
}
