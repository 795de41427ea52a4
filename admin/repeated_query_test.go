package admin_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
)

// GET /v1/campaigns and GET /v1/campaigns/{id} refuse a query parameter
// given more than once. Was: they read
// each parameter with Query().Get, a parameter given twice was answered
// with its first value and the second dropped in silence:
// ?status=paused&status=active listed only paused campaigns, and a walk
// that appends its cursor to a URL already holding one (?after=0&after=N)
// was served the first page again and again, where the retry endpoints
// refuse the same input (found by a review).
func TestCampaignReadsRefuseARepeatedQueryParameter(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	for i := range 3 {
		if _, err := b.client.CreateCampaign(b.ctx, []byte(campaignYAML(fmt.Sprintf("c%d", i), t0.Add(time.Hour))), "application/yaml"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.client.PauseCampaign(b.ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, query, param string }{
		{"/v1/campaigns", "status=" + string(campaign.CampaignPaused) + "&status=" + string(campaign.CampaignActive), "status"},
		{"/v1/campaigns", "after=0&after=2&limit=1", "after"},
		{"/v1/campaigns", "limit=1&limit=1000", "limit"},
		{"/v1/campaigns/1", "runs_limit=1&runs_limit=5", "runs_limit"},
	} {
		r := b.call(t, "GET", tc.path+"?"+tc.query, "Bearer "+tokenA, "", nil)
		var body admin.ErrorBody
		_ = json.Unmarshal([]byte(r.body), &body)
		named := false
		for _, p := range body.Problems {
			named = named || p.Path == tc.param
		}
		if r.status != 400 || !named {
			t.Errorf("GET %s?%s: %s; want 400 naming %q (given more than once)", tc.path, tc.query, r, tc.param)
		}
	}
}
