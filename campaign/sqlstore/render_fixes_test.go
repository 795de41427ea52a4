package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// parseAtT0 is what `tagcast campaign create` and the admin API do:
// campaign.ParseFile, validated an hour before t0.
func parseAtT0(t *testing.T, src string) campaign.Campaign {
	t.Helper()
	c, err := campaign.ParseFile([]byte(src), campaign.ValidateOptions{Now: t0.Add(-time.Hour), Apps: []string{"main"}})
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	return c
}

// fireAt creates c and claims its fire at `at`; it returns the run and
// its sends.
func (b bundle) fireAt(t testing.TB, c campaign.Campaign, at time.Time) (campaign.Run, []campaign.Send) {
	t.Helper()
	c = b.create(t, c)
	runs, err := b.store.ClaimDue(b.ctx, at, at, 10, plan)
	if err != nil || len(runs) != 1 || runs[0].CampaignID != c.ID {
		t.Fatalf("ClaimDue = %v, %v; want one run of campaign %d", runs, err, c.ID)
	}
	r, sends, err := b.store.GetRun(b.ctx, runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return r, sends
}

// Whatever creation accepted renders the same at the fire: numeric vars are
// json.Numbers in both, shown to templates as int64 or float64. They were
// float64s when ParseFile validated the templates and json.Numbers at the
// fire, so a template correct at creation rendered garbage at the fire
// ("%!f(json.Number=9.9)"), or failed it.
func TestVarsTemplatesRenderAtFireAsValidated(t *testing.T) {
	t.Parallel()
	const head = `
name: numbers
app: main
schedule: {at: 2026-11-20T09:00:00Z}
vars: {price: 9.9, stock: 42}
push:
  platform: [ios]
  fromuserid: system
  audience: {is_to_all: true}
  message: {objectName: "RC:TxtMsg", content: '{"content":"x"}'}
`
	cases := []struct{ name, alert string }{
		{"printf", `alert: 'Now {{printf "%.2f" .Vars.price}}'`},
		{"compare", `alert: '{{if gt .Vars.stock 10.0}}In stock{{else}}Few left{{end}}'`},
	}
	for _, d := range dialects {
		for _, tc := range cases {
			t.Run(d.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
				c, err := campaign.ParseFile([]byte(head+"  notification: {"+tc.alert+"}\n"),
					campaign.ValidateOptions{Now: t0.Add(-time.Hour), Apps: []string{"main"}})
				if err != nil {
					return // refused at creation: clear
				}
				validated, err := campaign.Render(c, *c.NextRunAt)
				if err != nil {
					t.Fatalf("ParseFile accepted a campaign Render refuses: %v", err)
				}
				r, sends := b.fireAt(t, c, t0)
				if r.Status != campaign.RunPending || len(sends) != 1 {
					t.Fatalf("the fire: run %s (error %q) with %d sends; want pending with 1 send, as validated (%q)",
						r.Status, r.Error, len(sends), validated.Notification.Alert)
				}
				if got, want := sends[0].Body.Notification.Alert, validated.Notification.Alert; got != want {
					t.Errorf("the fire pushes %q; validated as %q", got, want)
				}
			})
		}
	}
}

// A fire whose rendered body breaks pushapi's rules (here: the title is 53
// characters on a Wednesday, 50 on the Friday ParseFile checked) fails its
// run at creation with the reason, as a template error does. newRun once
// stored it pending with a send no call could carry, waiting for quota and
// ending expired.
func TestFireTimeInvalidBodyFailsTheRun(t *testing.T) {
	t.Parallel()
	const src = `
name: weekday
app: main
schedule: {cron: "0 9 * * *", deliver_within: 2h}
push:
  platform: [ios]
  fromuserid: system
  audience: {is_to_all: true}
  message: {objectName: "RC:TxtMsg", content: '{"content":"x"}'}
  notification: {alert: hi, title: 'Sale: 30% off all winter coats until {{.FireTime.Format "Monday"}} night!'}
`
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			c := parseAtT0(t, src) // first fire: Friday t0
			wednesday := t0.AddDate(0, 0, 5)
			c.NextRunAt = &wednesday // the campaign's sixth fire
			r, sends := b.fireAt(t, c, wednesday)
			for _, sd := range sends {
				if err := sd.Body.Validate(); err != nil && r.Status == campaign.RunPending {
					t.Errorf("run %s with send %d whose body fails validation (%v); want the run failed naming notification.title", r.Status, sd.Index, err)
				}
			}
			if r.Status == campaign.RunFailed && !strings.Contains(r.Error, "notification.title") {
				t.Errorf("run failed with error %q; want it to name notification.title", r.Error)
			}
		})
	}
}
