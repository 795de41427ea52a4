package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// TestOutcomeCodeOutsideInt32IsRecorded: an outcome's code is the
// service's JSON "code" as pushapi decoded it (any Go int), stored in
// sends.last_code. SQLite's INTEGER keeps any 64-bit value; PostgreSQL's
// `integer` is 32 bits, so RecordOutcome used to fail there on every try
// for a code a proxy or a misbehaving service sent beyond 2^31-1: the send
// stayed in flight and, its lease lapsed, ended unknown (ledgered, never
// re-sent by a plain retry) although the service had answered. Both
// dialects now record it alike, the code kept in the message, as for the
// NUL texts (outcome_text_test.go).
func TestOutcomeCodeOutsideInt32IsRecorded(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			_, sends := b.startedRun(t, 0, 1)
			now := t0.Add(time.Second)
			sd := b.claim(t, sends[0].ID, now)
			o := campaign.Outcome{Status: campaign.SendFailed, Code: 3_000_000_000, Message: "pushapi: code 3000000000: gateway error", At: now}
			got, err := b.store.RecordOutcome(b.ctx, sd.Token(), o)
			if err != nil {
				t.Fatalf("RecordOutcome(failed, code %d) on %s: %v (the send stays in flight and ends unknown)", o.Code, d.name, err)
			}
			if got.Status != campaign.SendFailed || got.LastCode != 0 || !strings.Contains(got.LastMessage, "code 3000000000") {
				t.Errorf("recorded %s, code %d, message %q; want failed, code 0 and the code kept in the message",
					got.Status, got.LastCode, got.LastMessage)
			}
		})
	}
}
