package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// (Found by a review.) A run of an app that was later removed from the configuration can never
// be sent: no worker has a client for it (worker.Handler.attempt: "app %q
// is not configured in this worker"), so a re-opened run stays pending for
// good, its task failing, archived and revived by the reconciler. The
// admin API knows the configured apps (it refuses to create a campaign of
// another one, naming `app`), yet a retry of such a run answered 200 "will
// be sent again". It is refused (409) naming the app, and the run left
// settled.
func TestRetryOfAnAppNoLongerConfiguredIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		path func(campaignID, runID int64) string
	}{
		{"run", func(_, runID int64) string { return fmt.Sprintf("/v1/runs/%d/retry", runID) }},
		{"campaign", func(campaignID, _ int64) string { return fmt.Sprintf("/v1/campaigns/%d/retry", campaignID) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := wiredServer(t, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"))

			// The campaign was created while app "old" was configured (the
			// server in front of this store now only knows "main").
			file := strings.Replace(fmt.Sprintf(wiredTagCampaign, "legacy", `"now": true`), `"app": "main"`, `"app": "old"`, 1)
			c, err := campaign.ParseFile([]byte(file), campaign.ValidateOptions{Now: t0, Apps: []string{"main", "old"}})
			if err != nil {
				t.Fatal(err)
			}
			c, err = e.store.Create(ctx, c, t0)
			if err != nil {
				t.Fatal(err)
			}
			runs, err := e.store.ClaimDue(ctx, t0, t0, 10, campaign.SimplePlan(time.Minute))
			if err != nil || len(runs) != 1 {
				t.Fatalf("ClaimDue = %v, %v", runs, err)
			}
			e.settleOne(t, runs[0].ID, t0, campaign.SendFailed)
			e.clock.Set(t0.Add(time.Hour))

			path := tc.path(c.ID, runs[0].ID)
			code, body := e.do(t, "POST", path, "", "")
			run, _, err := e.store.GetRun(ctx, runs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if code == http.StatusOK || !strings.Contains(body, `app \"old\" is not configured`) || run.Status != campaign.RunFailed {
				t.Errorf("POST %s for a run of app \"old\" (no longer configured): HTTP %d %s, run now %s; "+
					"want a refusal naming the app, the run left failed (no worker can ever send it)", path, code, strings.TrimSpace(body), run.Status)
			}
		})
	}
}
