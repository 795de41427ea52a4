package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/campaign"
)

// campaignBytes is a campaign's size as the store keeps it, what a page's
// budget counts: its name and the JSON of its push, schedule and vars,
// which the store keeps as written.
func campaignBytes(t *testing.T, c campaign.Campaign) int {
	t.Helper()
	n := len(c.Name)
	for _, v := range []any{c.Push, c.Schedule, c.Vars} {
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		n += len(js)
	}
	return n
}

// testListPageBytes: a page of List stops before its campaigns pass
// campaign.MaxListPageBytes, however high the limit, with the next cursor
// set so that the walk goes on and lists every matching campaign exactly
// once, in id order; a campaign over the budget alone is a page of its
// own. (A page bounded only in campaigns was ~70 MB for 70 campaigns with
// 54,000-id audiences: over the admin client's 64 MiB answer limit.)
func testListPageBytes(t *testing.T, b bundle) {
	// 36 campaigns of app main with 30,000 to 36,000 user ids (~390 to
	// ~470 KB each, ~15 MB in all), each followed by a small campaign of
	// another app (which the walk's filter leaves out), every third by a
	// small one of main; after the 20th, one whose vars alone are 9 MiB.
	const large = 36
	users := map[int64]int{} // of main's campaigns
	var want, others []int64
	var huge int64
	for i := range large {
		n := 30000 + 1000*(i%7)
		c := b.create(t, newCampaign("main", fmt.Sprintf("large-%d", i), t0, n))
		users[c.ID], want = n, append(want, c.ID)
		o := b.create(t, newCampaign("other", fmt.Sprintf("other-%d", i), t0, 0))
		others = append(others, o.ID)
		if i%3 == 0 {
			s := b.create(t, newCampaign("main", fmt.Sprintf("small-%d", i), t0, 0))
			users[s.ID], want = 0, append(want, s.ID)
		}
		if i == 20 {
			h := newCampaign("main", "huge-vars", t0, 0)
			h.Vars = map[string]any{"product": "coat", "blob": strings.Repeat("x", 9<<20)}
			h = b.create(t, h)
			users[h.ID], want, huge = 0, append(want, h.ID), h.ID
		}
	}

	var (
		listed []int64
		pages  [][]campaign.Campaign
		sizes  []int
	)
	f := campaign.ListFilter{App: "main", Limit: 1000}
	for {
		cs, next, err := b.store.List(b.ctx, f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		if len(cs) == 0 {
			t.Fatalf("List(%+v): an empty page, next %d", f, next)
		}
		size := 0
		for _, c := range cs {
			if c.App != "main" || c.ID <= f.After {
				t.Fatalf("List(%+v): campaign %d of app %q", f, c.ID, c.App)
			}
			if got := len(c.Push.Audience.UserID); got != users[c.ID] {
				t.Fatalf("campaign %d: %d user ids, want %d: the page must hold whole campaigns", c.ID, got, users[c.ID])
			}
			listed = append(listed, c.ID)
			size += campaignBytes(t, c)
		}
		pages, sizes = append(pages, cs), append(sizes, size)
		t.Logf("page %d: %d campaigns, %d bytes, next %d", len(pages), len(cs), size, next)
		if size > campaign.MaxListPageBytes && len(cs) > 1 {
			t.Errorf("page %d: %d campaigns, %d bytes, over the budget %d", len(pages), len(cs), size, campaign.MaxListPageBytes)
		}
		if next == 0 {
			break
		}
		if next != cs[len(cs)-1].ID {
			t.Fatalf("page %d: last campaign %d, next %d; want the next cursor to be its last campaign", len(pages), cs[len(cs)-1].ID, next)
		}
		if len(pages) > len(want) {
			t.Fatal("the walk does not end")
		}
		f.After = next
	}
	// Every page but the last was cut by bytes, not by its limit: the next
	// page's first campaign would have passed the budget.
	for i := range len(pages) - 1 {
		if len(pages[i]) >= f.Limit {
			t.Fatalf("page %d: %d campaigns; want fewer than the limit %d", i+1, len(pages[i]), f.Limit)
		}
		if first := campaignBytes(t, pages[i+1][0]); sizes[i]+first <= campaign.MaxListPageBytes {
			t.Errorf("page %d: %d campaigns, %d bytes, cut before campaign %d (%d bytes) would pass the budget %d",
				i+1, len(pages[i]), sizes[i], pages[i+1][0].ID, first, campaign.MaxListPageBytes)
		}
	}
	if len(pages) < 3 {
		t.Errorf("%d pages; want the budget to cut the walk into at least 3", len(pages))
	}
	hugePages := 0
	for _, p := range pages {
		for _, c := range p {
			if c.ID == huge {
				hugePages++
				if len(p) != 1 {
					t.Errorf("campaign %d (%d bytes, over the budget) shares its page with %d others", huge, campaignBytes(t, c), len(p)-1)
				}
			}
		}
	}
	if hugePages != 1 {
		t.Errorf("campaign %d came in %d pages, want 1", huge, hugePages)
	}
	if fmt.Sprint(listed) != fmt.Sprint(want) {
		t.Errorf("the walk listed %d campaigns %v; want %d once each, in id order: %v", len(listed), listed, len(want), want)
	}

	// Under the budget, the limit still bounds the page.
	if cs, next, err := b.store.List(b.ctx, campaign.ListFilter{App: "main", Limit: 3}); err != nil || len(cs) != 3 || next != want[2] {
		t.Errorf("List(limit 3) = %d campaigns, next %d, %v; want 3, next %d", len(cs), next, err, want[2])
	}
	// Small campaigns are not cut: all of the other app's in one page.
	if cs, next, err := b.store.List(b.ctx, campaign.ListFilter{App: "other", Limit: 1000}); err != nil || len(cs) != large || next != 0 ||
		cs[0].ID != others[0] || cs[large-1].ID != others[large-1] {
		t.Errorf("List(other) = %d campaigns, next %d, %v; want all %d, no next", len(cs), next, err, large)
	}
	// The budget counts vars too: the huge campaign alone, from just before it.
	if cs, next, err := b.store.List(b.ctx, campaign.ListFilter{App: "main", After: huge - 1, Limit: 1000}); err != nil || len(cs) != 1 || cs[0].ID != huge || next != huge {
		t.Errorf("List(after %d) = %d campaigns, next %d, %v; want campaign %d alone, next %d", huge-1, len(cs), next, err, huge, huge)
	}
}
