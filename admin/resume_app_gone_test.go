package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/campaign"
)

// A retry of a run whose app is no longer configured is
// refused (409 naming the app: TestRetryOfAnAppNoLongerConfiguredIsRefused),
// because no worker has a client for it and the re-opened run would stay
// pending for good. README ("Removing an app") tells operators to pause the
// campaigns of an app before removing it. Resuming such a campaign is the
// same mistake with the same consequence, and worse: the scheduler fires it
// at every occurrence, each run waiting, its task failing, archived and
// revived, until its deliver_within ends it expired (never, without one),
// and every one of them goes out, late, when the app is configured again.
// Was: the API, which knows the configured apps, answered the resume 200
// "active", as if the campaign would now send. It refuses (409 naming the
// app) and leaves the campaign paused.
func TestResumeOfAnAppNoLongerConfiguredIsRefused(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := wiredServer(t, d.url(t)) // configured apps: main

			// Created while app "old" was configured, then paused before
			// "old" was removed, as README advises.
			file := strings.Replace(fmt.Sprintf(wiredTagCampaign, "legacy-hourly", `"cron": "0 * * * *"`), `"app": "main"`, `"app": "old"`, 1)
			c, err := campaign.ParseFile([]byte(file), campaign.ValidateOptions{Now: t0, Apps: []string{"main", "old"}})
			if err != nil {
				t.Fatal(err)
			}
			if c, err = e.store.Create(ctx, c, t0); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.Pause(ctx, c.ID, t0); err != nil {
				t.Fatal(err)
			}

			code, body := e.do(t, "POST", fmt.Sprintf("/v1/campaigns/%d/resume", c.ID), "", "")
			now, err := e.store.GetCampaign(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if code == http.StatusOK || !strings.Contains(body, `app \"old\" is not configured`) || now.Status != campaign.CampaignPaused {
				t.Errorf("POST /v1/campaigns/%d/resume of a campaign of app \"old\" (no longer configured): HTTP %d %s, campaign now %s; "+
					"want a refusal naming the app (as a retry of its runs gets) and the campaign left paused: resumed, it fires runs no worker can send",
					c.ID, code, strings.TrimSpace(body), now.Status)
			}
		})
	}
}
