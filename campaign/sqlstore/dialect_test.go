package sqlstore_test

import (
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// The same List filter must select the same campaigns on both dialects:
// a case-sensitive substring (SQLite's LIKE ignores ASCII case,
// PostgreSQL's does not).
func TestListNameFilterSameOnBothDialects(t *testing.T) {
	t.Parallel()
	got := map[string]int{}
	for _, d := range dialects {
		b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
		b.create(t, newCampaign("main", "Winter-Sale", t0.Add(time.Hour), 0))
		b.create(t, newCampaign("main", "big winter_clearance", t0.Add(time.Hour), 0))
		b.create(t, newCampaign("main", "summer", t0.Add(time.Hour), 0))
		cs, _, err := b.store.List(b.ctx, campaign.ListFilter{Name: "winter"})
		if err != nil {
			t.Fatal(err)
		}
		got[d.name] = len(cs)
	}
	if got["postgres"] != 1 || got["sqlite"] != 1 {
		t.Errorf("List(Name: %q) finds %d campaign(s) on postgres, %d on sqlite", "winter", got["postgres"], got["sqlite"])
	}
}
