package admin_test

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// Every /v1/ endpoint refuses a query parameter it does not take (400
// naming it), because an ignored one answers as if it were absent. The
// endpoints that change state used not to check: POST
// /v1/campaigns?dry_run=true created a campaign that fires, POST
// .../cancel?dry_run=true cancelled it for good, both answered as
// successes. Nothing is created or changed.
func TestStateChangingEndpointsRefuseUnknownQueryParameters(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	r := b.call(t, "POST", "/v1/campaigns?dry_run=true", "Bearer "+tokenA, "application/yaml",
		strings.NewReader(campaignYAML("checked-only", t0.Add(time.Hour))))
	if r.status != 400 || !strings.Contains(r.body, `"path":"dry_run"`) {
		t.Errorf("POST /v1/campaigns?dry_run=true: %s; want 400 naming dry_run", r)
	}
	if n := b.campaignCount(t); n != 0 {
		t.Errorf("campaigns stored after POST /v1/campaigns?dry_run=true: %d; want 0", n)
	}

	c, err := b.client.CreateCampaign(b.ctx, []byte(campaignYAML("keep", t0.Add(time.Hour))), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"cancel", "pause"} {
		target := fmt.Sprintf("/v1/campaigns/%d/%s?dry_run=true", c.ID, op)
		r = b.call(t, "POST", target, "Bearer "+tokenA, "", nil)
		if r.status != 400 || !strings.Contains(r.body, `"path":"dry_run"`) {
			t.Errorf("POST %s: %s; want 400 naming dry_run", target, r)
		}
	}
	for _, target := range []struct{ method, path, ct, body string }{
		{"GET", "/v1/quota?dry_run=true", "", ""},
		{"GET", "/v1/quota/main?dry_run=true", "", ""},
		{"PUT", "/v1/apps/main/users/u1/tags?dry_run=true", "application/json", `{"tags": ["vip"]}`},
		{"POST", "/v1/apps/main/tags/batch?dry_run=true", "application/json", `{"userIds": ["u1"], "tags": ["vip"]}`},
	} {
		var body io.Reader
		if target.body != "" {
			body = strings.NewReader(target.body)
		}
		r = b.call(t, target.method, target.path, "Bearer "+tokenA, target.ct, body)
		if r.status != 400 || !strings.Contains(r.body, `"path":"dry_run"`) {
			t.Errorf("%s %s: %s; want 400 naming dry_run", target.method, target.path, r)
		}
	}
	got, err := b.store.GetCampaign(b.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaign.CampaignActive {
		t.Errorf("campaign %d is %s after requests with an unknown parameter; want active (unchanged)", c.ID, got.Status)
	}
}
