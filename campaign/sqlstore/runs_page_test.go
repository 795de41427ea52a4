package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/campaign"
)

// cronRuns creates an every-minute campaign and fires it n times (one tag
// send a run), with a one-off campaign's run in between each so that the
// campaign's run ids are not contiguous. It returns the campaign's run ids,
// oldest first.
func (b bundle) cronRuns(t *testing.T, n int) (campaign.Campaign, []int64) {
	t.Helper()
	c := newCampaign("main", "every-minute", t0, 0)
	c.Schedule = campaign.Schedule{Cron: "* * * * *", Missed: campaign.MissedSkip, DeliverWithin: time.Hour}
	c = b.create(t, c)
	var ids []int64
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		if i%3 == 1 {
			other := newCampaign("main", "other", at, 0)
			b.create(t, other)
		}
		runs, err := b.store.ClaimDue(b.ctx, at, at, 10, plan)
		if err != nil {
			t.Fatalf("ClaimDue at %s: %v", at, err)
		}
		for _, r := range runs {
			if r.CampaignID == c.ID {
				ids = append(ids, r.ID)
			}
		}
	}
	if len(ids) != n {
		t.Fatalf("campaign %d fired %d times, want %d", c.ID, len(ids), n)
	}
	return c, ids
}

// testRunsPaging: Get pages a campaign's runs newest first; walking the
// cursor to the end returns every run exactly once, each with its own
// sends, and the counts by status cover every run, not only the page's.
func testRunsPaging(t *testing.T, b bundle) {
	const n = 23
	c, ids := b.cronRuns(t, n)
	// Three statuses: every fourth run expired, every fifth running, the
	// rest pending.
	want := map[int64]campaign.RunStatus{}
	for i, id := range ids {
		want[id] = campaign.RunPending
		now := t0.Add(time.Duration(i)*time.Minute + time.Second)
		switch {
		case i%4 == 0:
			if _, err := b.store.ExpireRun(b.ctx, id, now.Add(2*time.Hour)); err != nil { // past its deliver_within (1h)
				t.Fatal(err)
			}
			want[id] = campaign.RunExpired
		case i%5 == 0:
			if _, err := b.store.StartRun(b.ctx, id, now); err != nil {
				t.Fatal(err)
			}
			want[id] = campaign.RunRunning
		}
	}
	wantCounts := map[campaign.RunStatus]int{}
	for _, st := range campaign.Statuses[campaign.RunStatus]() {
		wantCounts[st] = 0
	}
	for _, st := range want {
		wantCounts[st]++
	}

	seen := map[int64]int{}
	var order []int64
	q := campaign.RunsQuery{Limit: 5}
	pages := 0
	for {
		d, err := b.store.Get(b.ctx, c.ID, q)
		if err != nil {
			t.Fatalf("Get(%+v): %v", q, err)
		}
		pages++
		if d.ID != c.ID || d.Name != c.Name {
			t.Fatalf("Get(%+v): campaign %d %q", q, d.ID, d.Name)
		}
		if diff := cmp.Diff(wantCounts, d.RunCounts); diff != "" {
			t.Errorf("page %d: run counts (-want +got):\n%s", pages, diff)
		}
		if len(d.Runs) > q.Limit {
			t.Fatalf("page %d: %d runs, over the limit %d", pages, len(d.Runs), q.Limit)
		}
		for _, r := range d.Runs {
			seen[r.ID]++
			order = append(order, r.ID)
			if r.CampaignID != c.ID || r.Status != want[r.ID] {
				t.Errorf("run %d: campaign %d status %s; want campaign %d status %s", r.ID, r.CampaignID, r.Status, c.ID, want[r.ID])
			}
			if len(r.Sends) != 1 || r.Sends[0].RunID != r.ID {
				t.Errorf("run %d: sends %+v; want its one send", r.ID, r.Sends)
			}
		}
		if d.RunsNext == 0 {
			break
		}
		if len(d.Runs) != q.Limit || d.RunsNext != d.Runs[len(d.Runs)-1].ID {
			t.Fatalf("page %d: %d runs, next %d; a full page whose next is its last (oldest) run", pages, len(d.Runs), d.RunsNext)
		}
		if pages > n {
			t.Fatal("the walk does not end")
		}
		q.Before = d.RunsNext
	}
	if pages != 5 {
		t.Errorf("%d runs in pages of 5: %d pages, want 5", n, pages)
	}
	wantOrder := make([]int64, n)
	for i, id := range ids {
		wantOrder[n-1-i] = id
	}
	if diff := cmp.Diff(wantOrder, order); diff != "" {
		t.Errorf("the walk's runs, newest first (-want +got):\n%s", diff)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("run %d came %d times", id, k)
		}
	}

	// The default page is the newest DefaultRunsLimit; a limit over the
	// maximum is the maximum; a cursor past the oldest run is an empty
	// last page.
	d, err := b.store.Get(b.ctx, c.ID, campaign.RunsQuery{})
	if err != nil || len(d.Runs) != n || d.RunsNext != 0 || d.Runs[0].ID != ids[n-1] {
		t.Errorf("Get(default) = %d runs, next %d, %v; want all %d, newest first", len(d.Runs), d.RunsNext, err, n)
	}
	d, err = b.store.Get(b.ctx, c.ID, campaign.RunsQuery{Limit: campaign.MaxRunsLimit + 1})
	if err != nil || len(d.Runs) != n {
		t.Errorf("Get(limit over max) = %d runs, %v", len(d.Runs), err)
	}
	d, err = b.store.Get(b.ctx, c.ID, campaign.RunsQuery{Before: ids[0]})
	if err != nil || len(d.Runs) != 0 || d.Runs == nil || d.RunsNext != 0 || d.RunCounts[campaign.RunPending] != wantCounts[campaign.RunPending] {
		t.Errorf("Get(before the oldest) = %+v, next %d, %v; want no runs, no next, the counts", d.Runs, d.RunsNext, err)
	}

	// RunsWithStatus walks the runs in some statuses, oldest first.
	var got []int64
	for after := int64(0); ; {
		runs, err := b.store.RunsWithStatus(b.ctx, c.ID, []campaign.RunStatus{campaign.RunExpired, campaign.RunRunning}, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 0 {
			break
		}
		for _, r := range runs {
			got = append(got, r.ID)
		}
		after = runs[len(runs)-1].ID
	}
	var wantIDs []int64
	for _, id := range ids {
		if want[id] != campaign.RunPending {
			wantIDs = append(wantIDs, id)
		}
	}
	if diff := cmp.Diff(wantIDs, got); diff != "" {
		t.Errorf("RunsWithStatus(expired, running) (-want +got):\n%s", diff)
	}

	if got, err := b.store.GetCampaign(b.ctx, c.ID); err != nil || got.ID != c.ID || got.Name != c.Name {
		t.Errorf("GetCampaign = %d %q, %v", got.ID, got.Name, err)
	}
	if _, err := b.store.GetCampaign(b.ctx, 999999); !errors.Is(err, campaign.ErrNotFound) {
		t.Errorf("GetCampaign(missing) = %v, want ErrNotFound", err)
	}
}
