package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
)

// largeRuns creates an every-minute campaign whose push carries content
// bytes of content to users user ids (a send a 1,000-id chunk, each
// repeating the content) and fires it n times. It returns the campaign and
// its run ids, oldest first.
func (b bundle) largeRuns(t *testing.T, name string, content, users, n int) (campaign.Campaign, []int64) {
	t.Helper()
	c := newCampaign("main", name, t0, users)
	c.Push.Message.Content = strings.Repeat("Winter sale ", content/12+1)[:content]
	c.Schedule = campaign.Schedule{Cron: "* * * * *", Missed: campaign.MissedSkip, DeliverWithin: time.Hour}
	c = b.create(t, c)
	var ids []int64
	for i := range n {
		runs, err := b.store.ClaimDue(b.ctx, t0.Add(time.Duration(i)*time.Minute), t0.Add(time.Duration(i)*time.Minute), 10, plan)
		if err != nil {
			t.Fatalf("ClaimDue: %v", err)
		}
		for _, r := range runs {
			if r.CampaignID == c.ID {
				ids = append(ids, r.ID)
			}
		}
	}
	if len(ids) != n {
		t.Fatalf("campaign %q fired %d times, want %d", name, len(ids), n)
	}
	return c, ids
}

// bodyBytes is the size of a run's sends' bodies as stored, what the
// page's budget counts: their encoding for the wire (pushapi's Encode),
// which the store keeps as written.
func bodyBytes(t *testing.T, r campaign.RunDetail) int {
	t.Helper()
	n := 0
	for _, sd := range r.Sends {
		js, err := sd.Body.Encode()
		if err != nil {
			t.Fatal(err)
		}
		n += len(js)
	}
	return n
}

// testRunsPageBytes: a page of Get stops before its sends' bodies pass
// campaign.MaxRunsPageBytes, however high the limit, with runs_next set so
// that the walk goes on and covers every run exactly once; a run over the
// budget alone is a page of its own. (A page bounded only in runs was ~77
// MB for 750 runs of 100 KB content: over the admin client's 64 MiB
// answer limit, and built in the server's memory.)
func testRunsPageBytes(t *testing.T, b bundle) {
	// 4 sends of ~100 KB a run, ~460 KB: 20 runs are ~9 MB, over the
	// budget, in pages of 1,000 runs.
	const n, sendsPerRun = 20, 4
	c, ids := b.largeRuns(t, "large", 100*1024, sendsPerRun*campaign.MaxUserIDsPerSend, n)
	seen := map[int64]int{}
	var order []int64
	q := campaign.RunsQuery{Limit: campaign.MaxRunsLimit}
	var pages []campaign.Detail
	for {
		d, err := b.store.Get(b.ctx, c.ID, q)
		if err != nil {
			t.Fatalf("Get(%+v): %v", q, err)
		}
		pages = append(pages, d)
		if d.RunCounts[campaign.RunPending] != n {
			t.Errorf("page %d: run counts %v, want %d pending", len(pages), d.RunCounts, n)
		}
		size := 0
		for _, r := range d.Runs {
			seen[r.ID]++
			order = append(order, r.ID)
			if len(r.Sends) != sendsPerRun {
				t.Fatalf("run %d: %d sends, want %d", r.ID, len(r.Sends), sendsPerRun)
			}
			for i, sd := range r.Sends {
				if sd.RunID != r.ID || sd.Index != i || sd.Body.Message == nil || len(sd.Body.Message.Content) != 100*1024 {
					t.Fatalf("run %d send %d: run %d index %d; want its own send, in index order, with its body", r.ID, i, sd.RunID, sd.Index)
				}
			}
			size += bodyBytes(t, r)
		}
		if size > campaign.MaxRunsPageBytes {
			t.Errorf("page %d: %d runs, %d bytes of bodies, over the budget %d", len(pages), len(d.Runs), size, campaign.MaxRunsPageBytes)
		}
		if d.RunsNext == 0 {
			break
		}
		if len(d.Runs) == 0 || d.RunsNext != d.Runs[len(d.Runs)-1].ID {
			t.Fatalf("page %d: %d runs, next %d; want the next cursor to be its last (oldest) run", len(pages), len(d.Runs), d.RunsNext)
		}
		// Cut by bytes, not by the limit: the page is full but for at
		// most one run (the database's measure of a body may be a little
		// more than its JSON here).
		if runBytes := size / len(d.Runs); size+2*runBytes <= campaign.MaxRunsPageBytes {
			t.Errorf("page %d: %d runs, %d bytes, cut before the budget %d", len(pages), len(d.Runs), size, campaign.MaxRunsPageBytes)
		}
		if len(pages) > n {
			t.Fatal("the walk does not end")
		}
		q.Before = d.RunsNext
	}
	if len(pages) < 2 {
		t.Errorf("%d runs of ~460 KB in pages of %d: %d page; want the budget to cut the first", n, q.Limit, len(pages))
	}
	for i, id := range ids {
		if i >= len(order) || order[len(order)-1-i] != id {
			t.Fatalf("the walk's runs, newest first: %v; want %v reversed", order, ids)
		}
	}
	if len(order) != n {
		t.Errorf("the walk read %d runs, want %d", len(order), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("run %d came %d times", id, k)
		}
	}
	// Under the budget, the limit still bounds the page.
	if d, err := b.store.Get(b.ctx, c.ID, campaign.RunsQuery{Limit: 3}); err != nil || len(d.Runs) != 3 || d.RunsNext != ids[n-3] {
		t.Errorf("Get(limit 3) = %d runs, next %d, %v; want 3, next %d", len(d.Runs), d.RunsNext, err, ids[n-3])
	}

	// A run over the budget by itself (66 sends of 128 KB) is a page of
	// its own: never an empty page, never a stuck walk.
	huge, hugeIDs := b.largeRuns(t, "huge", pushapi.MaxContentBytes, 66*campaign.MaxUserIDsPerSend, 2)
	d, err := b.store.Get(b.ctx, huge.ID, campaign.RunsQuery{Limit: campaign.MaxRunsLimit})
	if err != nil || len(d.Runs) != 1 || d.Runs[0].ID != hugeIDs[1] || d.RunsNext != hugeIDs[1] {
		t.Fatalf("Get(huge) = %d runs, next %d, %v; want the newest run %d alone, next %d", len(d.Runs), d.RunsNext, err, hugeIDs[1], hugeIDs[1])
	}
	if size := bodyBytes(t, d.Runs[0]); len(d.Runs[0].Sends) != 66 || size <= campaign.MaxRunsPageBytes {
		t.Fatalf("huge run: %d sends, %d bytes; want 66 sends over the budget %d", len(d.Runs[0].Sends), size, campaign.MaxRunsPageBytes)
	}
	d, err = b.store.Get(b.ctx, huge.ID, campaign.RunsQuery{Limit: campaign.MaxRunsLimit, Before: d.RunsNext})
	if err != nil || len(d.Runs) != 1 || d.Runs[0].ID != hugeIDs[0] || d.RunsNext != 0 || len(d.Runs[0].Sends) != 66 {
		t.Fatalf("Get(huge, before) = %d runs, next %d, %v; want the oldest run %d alone with its 66 sends, no next", len(d.Runs), d.RunsNext, err, hugeIDs[0])
	}
}
