package admin_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
)

// TestCampaignListPageIsBoundedInBytes: a page of campaigns, like a page
// of runs, stops before its campaigns pass 8 MiB (campaign.MaxListPageBytes),
// because each campaign carries its whole push body: a user-id audience of
// 54,000 ids is a 1 MiB file that POST /v1/campaigns accepts. Bounded only
// in campaigns, GET /v1/campaigns?limit=100 over 70 such campaigns answered
// some 70 MiB in one piece (limit=1000 over 1,000 of them: a gigabyte held
// in the server's memory), which the admin client (and so `tagcast campaign
// list --limit 100`) refused as over its 64 MiB limit: the operator could
// not list the campaigns at all. Now the pages are shorter than the limit
// and next_after walks through all of them.
func TestCampaignListPageIsBoundedInBytes(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	ids := make([]string, 54000)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%011d", i)
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		t.Fatal(err)
	}
	file := `{"name": "big-0", "app": "main", "schedule": {"at": "` + t0.Add(time.Hour).Format(time.RFC3339) + `"},
	"push": {"platform": ["ios"], "fromuserid": "system", "audience": {"userid": ` + string(idsJSON) + `},
	"message": {"objectName": "AppNote", "content": "hi"}, "notification": {"alert": "hi"}}}`
	if len(file) > admin.DefaultMaxBodyBytes {
		t.Fatalf("the file is %d bytes, over the API's body limit", len(file))
	}
	r := b.call(t, "POST", "/v1/campaigns", "Bearer "+tokenA, "application/json", strings.NewReader(file))
	if r.status != 201 {
		t.Fatalf("create: HTTP %d %.300s", r.status, r.body)
	}
	var c campaign.Campaign
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		t.Fatal(err)
	}
	// The rest straight into the store: the same accepted campaign.
	const n = 70
	for i := 1; i < n; i++ {
		c.ID, c.Name = 0, fmt.Sprintf("big-%d", i)
		if _, err := b.store.Create(b.ctx, c, t0); err != nil {
			t.Fatal(err)
		}
	}
	var listed []int64
	pages := 0
	for after := int64(0); ; {
		page, err := b.client.ListCampaigns(b.ctx, admin.ListQuery{Limit: 100, After: after})
		if err != nil {
			t.Fatalf("list campaigns after %d, limit 100: %v (%d campaigns of %d KiB each; want a page the client can read, next_after for the rest)",
				after, err, n, len(file)>>10)
		}
		pages++
		for _, c := range page.Campaigns {
			listed = append(listed, c.ID)
		}
		// Each campaign stores its audience's ids, len(idsJSON) bytes.
		if k := len(page.Campaigns); k == 0 || k > max(1, campaign.MaxListPageBytes/len(idsJSON)) {
			t.Errorf("page %d: %d campaigns of over %d bytes each; want at least one, and no more than %d bytes of them",
				pages, k, len(idsJSON), campaign.MaxListPageBytes)
		}
		if page.NextAfter == 0 {
			break
		}
		if page.NextAfter <= after || pages > n {
			t.Fatalf("page %d: next_after %d after %d; want a walk that moves on and ends", pages, page.NextAfter, after)
		}
		after = page.NextAfter
	}
	if len(listed) != n || !slices.IsSorted(listed) {
		t.Errorf("the pages listed %d campaigns, want %d once each in id order", len(listed), n)
	}
}
