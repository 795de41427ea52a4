package sqlstore_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// A number in vars renders at fire time as it did when the campaign was
// validated: the store keeps it a json.Number (a float64 would print
// 12345678 as 1.2345678e+07 and lose digits beyond 2^53).
func TestVarsNumbersRenderAsValidated(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			// Exactly what campaign.ParseFile hands to Store.Create for
			// `vars: {code: 12345678, order: 9007199254740993}`.
			c := newCampaign("main", "numbers", t0, 0)
			c.Vars = map[string]any{"code": json.Number("12345678"), "order": json.Number("9007199254740993")}
			c.Push.Notification.Alert = "Code {{.Vars.code}} order {{.Vars.order}}"
			want := "Code 12345678 order 9007199254740993"
			if body, err := campaign.Render(c, t0); err != nil || body.Notification.Alert != want {
				t.Fatalf("render at creation = %q, %v; want %q", body.Notification.Alert, err, want)
			}
			b.create(t, c)
			runs, err := b.store.ClaimDue(b.ctx, t0, t0, 10, plan)
			if err != nil || len(runs) != 1 {
				t.Fatalf("ClaimDue = %v, %v", runs, err)
			}
			_, sends, err := b.store.GetRun(b.ctx, runs[0].ID)
			if err != nil || len(sends) != 1 {
				t.Fatalf("GetRun = %v, %v", sends, err)
			}
			if got := sends[0].Body.Notification.Alert; got != want {
				t.Errorf("the rendered send says %q, want %q (as validated at creation)", got, want)
			}
		})
	}
}

// A template that renders a NUL character is refused at creation; one that
// reaches the store anyway (written before that rule, or a fire-time
// output) fails its own run and does not keep the other campaigns of the
// batch from being claimed (PostgreSQL's jsonb refuses a NUL, which would
// roll the whole batch back, tick after tick).
func TestRenderedNULFailsItsRunAlone(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			good := b.create(t, newCampaign("main", "good", t0, 0))
			bad := newCampaign("main", "renders-nul", t0, 0)
			bad.Push.Notification.Alert = `hi{{printf "%c" 0}}`
			check := bad
			if err := campaign.Validate(&check, campaign.ValidateOptions{Now: t0.Add(-time.Minute), Apps: []string{"main"}}); err == nil ||
				!strings.Contains(err.Error(), "NUL") {
				t.Errorf("Validate = %v, want the NUL refused", err)
			}
			bad = b.create(t, bad) // as if stored before the rule
			runs, err := b.store.ClaimDue(b.ctx, t0, t0, 10, plan)
			if err != nil {
				t.Fatalf("ClaimDue: %v", err)
			}
			byCampaign := map[int64]campaign.Run{}
			for _, r := range runs {
				byCampaign[r.CampaignID] = r
			}
			if r, ok := byCampaign[good.ID]; !ok || r.Status != campaign.RunPending {
				t.Errorf("the valid campaign's run: %+v (claimed %v), want pending", r, ok)
			}
			if r := byCampaign[bad.ID]; r.Status != campaign.RunFailed || !strings.Contains(r.Error, "NUL") {
				t.Errorf("the NUL campaign's run: status %q error %q, want failed naming the NUL", r.Status, r.Error)
			}
		})
	}
}
