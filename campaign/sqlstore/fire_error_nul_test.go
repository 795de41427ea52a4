package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// A fire whose templates fail creates its run failed, with
// the render error as runs.error. That error quotes the failing action's
// source text (text/template's "executing ... at <...>"), and a template
// may hold a raw NUL there: here inside a string literal of an action that
// only runs on Wednesdays, so campaign.ParseFile (what `campaign create`
// and the admin API run) renders it on the Friday of creation and accepts
// it. PostgreSQL's text refuses a NUL, so on the Wednesday the INSERT of
// the failed run fails and takes ClaimDue's whole transaction with it:
// every campaign due in that batch, the valid one here too, stays
// unclaimed, tick after tick, since the poisoned campaign keeps its
// next_run_at at the head of the due order. SQLite stores the NUL and
// claims both. Was: the store made outcome texts storable (storableText),
// not runs.error.
func TestFireTimeRenderErrorWithNULFailsItsRunAlone(t *testing.T) {
	t.Parallel()
	const src = "name: weekday\napp: main\nschedule: {cron: \"0 9 * * *\", deliver_within: 2h}\npush:\n" +
		"  platform: [ios]\n  fromuserid: system\n  audience: {is_to_all: true}\n" +
		"  message: {objectName: \"RC:TxtMsg\", content: '{\"content\":\"x\"}'}\n" +
		"  notification: {alert: \"{{if eq (.FireTime.Format \\\"Mon\\\") \\\"Wed\\\"}}{{index .Vars \\\"\\0\\\"}}{{else}}hi{{end}}\"}\n"
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			bad := parseAtT0(t, src) // accepted: its first fire (Friday t0) renders "hi"
			wednesday := t0.AddDate(0, 0, 5)
			bad.NextRunAt = &wednesday // a later fire of the same campaign
			bad = b.create(t, bad)
			good := b.create(t, newCampaign("main", "good", wednesday, 0))

			runs, err := b.store.ClaimDue(b.ctx, wednesday, wednesday, 10, plan)
			if err != nil {
				t.Fatalf("ClaimDue: %v; want the valid campaign claimed and the failing fire's run failed alone", err)
			}
			byCampaign := map[int64]campaign.Run{}
			for _, r := range runs {
				byCampaign[r.CampaignID] = r
			}
			if r, ok := byCampaign[good.ID]; !ok || r.Status != campaign.RunPending {
				t.Errorf("the valid campaign's run: %+v (claimed %v), want pending", r, ok)
			}
			if r := byCampaign[bad.ID]; r.Status != campaign.RunFailed || !strings.Contains(r.Error, "notification.alert") {
				t.Errorf("the failing fire's run: status %q error %q, want failed naming notification.alert", r.Status, r.Error)
			}
			if again, err := b.store.ClaimDue(b.ctx, wednesday.Add(time.Second), wednesday.Add(time.Second), 10, plan); err != nil {
				t.Errorf("next tick's ClaimDue: %v (%d runs)", err, len(again))
			}
		})
	}
}
