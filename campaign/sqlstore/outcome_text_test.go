package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// An outcome's texts come from the push service: the worker records
// err.Error() of a *pushapi.Error, which carries the response's
// errorMessage as JSON-decoded (a "\u0000" escape decodes to a NUL). The
// same outcome must be recorded on both dialects. PostgreSQL's text
// columns refuse a NUL: before the store replaced it, RecordOutcome failed
// there on every try, the send stayed in flight and, its lease lapsed,
// became unknown (counted in the quota ledger, never re-sent by a plain
// retry) although the service had refused it (1002: nothing was sent).
func TestOutcomeTextWithNULIsRecorded(t *testing.T) {
	t.Parallel()
	outcomes := map[string]campaign.Outcome{
		"failed message": {Status: campaign.SendFailed, Code: 1002, Message: "pushapi: code 1002: parameter error: bad\x00param"},
		"sent ids":       {Status: campaign.SendSent, PushID: "push\x001", MessageUID: "BS45\x00U2HJ"},
		"invalid UTF-8":  {Status: campaign.SendFailed, Code: 1002, Message: "pushapi: code 1002: parameter error: \xff\xfe from a proxy"},
	}
	for _, d := range dialects {
		for name, o := range outcomes {
			t.Run(d.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
				_, sends := b.startedRun(t, 0, 1)
				now := t0.Add(time.Second)
				sd := b.claim(t, sends[0].ID, now)
				o.At = now
				got, err := b.store.RecordOutcome(b.ctx, sd.Token(), o)
				if err != nil {
					t.Fatalf("RecordOutcome(%s, %q) on %s: %v (the send stays in flight and ends unknown)", o.Status, o.Message, d.name, err)
				}
				if got.Status != o.Status {
					t.Errorf("recorded status %s, want %s", got.Status, o.Status)
				}
				if o.Message != "" && !strings.Contains(got.LastMessage, "parameter error") {
					t.Errorf("recorded message %q lost the service's text", got.LastMessage)
				}
			})
		}
	}
}
