package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/internal/testenv"
)

// countCampaigns is the number of campaigns in the store.
func (b bundle) countCampaigns(t testing.TB) int {
	t.Helper()
	cs, _, err := b.store.List(b.ctx, campaign.ListFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// testIdempotentCreate guards the create a client retries after losing its
// answer: under the same key and request it gets the first campaign back,
// as it is now (cancelled too: a cancel does not free the key), and
// nothing is stored; under the same key and another request it is
// refused. Keys are distinct from each other and from campaigns created
// without one.
func testIdempotentCreate(t *testing.T, b bundle) {
	at := t0.Add(time.Hour)
	key := campaign.IdempotencyKey{Key: "create-winter-sale-1", RequestHash: "hash-a"}
	if _, found, err := b.store.FindIdempotent(b.ctx, key); found || err != nil {
		t.Fatalf("FindIdempotent before any create = found %v, %v; want not found", found, err)
	}
	first, replayed, err := b.store.CreateIdempotent(b.ctx, newCampaign("main", "winter-sale", at, 0), key, t0)
	if err != nil || replayed || first.ID == 0 || first.Status != campaign.CampaignActive {
		t.Fatalf("first create = %+v, replayed %v, %v; want a new active campaign", first, replayed, err)
	}

	again, replayed, err := b.store.CreateIdempotent(b.ctx, newCampaign("main", "winter-sale", at, 0), key, t0.Add(time.Minute))
	if err != nil || !replayed || again.ID != first.ID || !again.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("same key, same request = campaign %d created %s, replayed %v, %v; want campaign %d created %s, replayed",
			again.ID, again.CreatedAt, replayed, err, first.ID, first.CreatedAt)
	}
	if found, ok, err := b.store.FindIdempotent(b.ctx, key); !ok || err != nil || found.ID != first.ID {
		t.Errorf("FindIdempotent = campaign %d, found %v, %v; want campaign %d", found.ID, ok, err, first.ID)
	}

	other := campaign.IdempotencyKey{Key: key.Key, RequestHash: "hash-b"}
	_, replayed, err = b.store.CreateIdempotent(b.ctx, newCampaign("main", "summer-sale", at, 0), other, t0)
	var reused *campaign.IdempotencyKeyReusedError
	if !errors.As(err, &reused) || !errors.Is(err, campaign.ErrIdempotencyKeyReused) || reused.CampaignID != first.ID || reused.Key != key.Key || replayed {
		t.Errorf("same key, another request = replayed %v, %v; want an *IdempotencyKeyReusedError naming campaign %d", replayed, err, first.ID)
	}
	if _, found, err := b.store.FindIdempotent(b.ctx, other); found || !errors.Is(err, campaign.ErrIdempotencyKeyReused) {
		t.Errorf("FindIdempotent, another request = found %v, %v; want ErrIdempotencyKeyReused", found, err)
	}

	// Cancelled, the campaign keeps its key: a replay gets it as it is now.
	if _, err := b.store.Cancel(b.ctx, first.ID, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	again, replayed, err = b.store.CreateIdempotent(b.ctx, newCampaign("main", "winter-sale", at, 0), key, t0.Add(3*time.Minute))
	if err != nil || !replayed || again.ID != first.ID || again.Status != campaign.CampaignCancelled {
		t.Errorf("replay after cancel = campaign %d %s, replayed %v, %v; want campaign %d cancelled, replayed", again.ID, again.Status, replayed, err, first.ID)
	}

	// Another key is another campaign; creates without a key are not
	// deduplicated (their NULL keys do not collide).
	second, replayed, err := b.store.CreateIdempotent(b.ctx, newCampaign("main", "winter-sale", at, 0), campaign.IdempotencyKey{Key: "create-winter-sale-2", RequestHash: "hash-a"}, t0)
	if err != nil || replayed || second.ID == first.ID {
		t.Errorf("another key = campaign %d, replayed %v, %v; want a new campaign", second.ID, replayed, err)
	}
	b.create(t, newCampaign("main", "winter-sale", at, 0))
	b.create(t, newCampaign("main", "winter-sale", at, 0))
	if n := b.countCampaigns(t); n != 4 {
		t.Errorf("%d campaigns, want 4 (two keys, two creates without one)", n)
	}

	for _, bad := range []string{"", "with space", "tab\tkey", "é", string(make([]byte, 256))} {
		if _, _, err := b.store.CreateIdempotent(b.ctx, newCampaign("main", "x", at, 0), campaign.IdempotencyKey{Key: bad, RequestHash: "h"}, t0); err == nil {
			t.Errorf("CreateIdempotent with key %q succeeded", bad)
		}
	}
	if _, _, err := b.store.CreateIdempotent(b.ctx, newCampaign("main", "x", at, 0), campaign.IdempotencyKey{Key: "no-hash"}, t0); err == nil {
		t.Error("CreateIdempotent without a request hash succeeded")
	}
	if n := b.countCampaigns(t); n != 4 {
		t.Errorf("after refused creates: %d campaigns, want 4", n)
	}
}

// createResult is one concurrent create's outcome.
type createResult struct {
	c        campaign.Campaign
	replayed bool
	err      error
}

// raceCreates runs n creates under key at once, goroutine i on stores[i %
// len(stores)] with the request hash hashOf(i), and returns their results.
func raceCreates(ctx context.Context, stores []campaign.Store, n int, key string, hashOf func(i int) string) []createResult {
	results := make([]createResult, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			k := campaign.IdempotencyKey{Key: key, RequestHash: hashOf(i)}
			c, replayed, err := stores[i%len(stores)].CreateIdempotent(ctx, newCampaign("main", "race", t0.Add(time.Hour), 0), k, t0)
			results[i] = createResult{c, replayed, err}
		})
	}
	close(start)
	wg.Wait()
	return results
}

// checkOneCreated checks that exactly one of results created a campaign,
// that every other with the winner's hash replayed it and every other with
// another hash was refused, and returns the winner's id.
func checkOneCreated(t *testing.T, results []createResult, hashOf func(i int) string) int64 {
	t.Helper()
	winner := -1
	for i, r := range results {
		if r.err == nil && !r.replayed {
			if winner >= 0 {
				t.Errorf("creates %d and %d both created a campaign (%d and %d)", winner, i, results[winner].c.ID, r.c.ID)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no create created the campaign: %+v", results)
	}
	id := results[winner].c.ID
	for i, r := range results {
		switch {
		case i == winner:
		case hashOf(i) == hashOf(winner):
			if r.err != nil || !r.replayed || r.c.ID != id {
				t.Errorf("create %d (the winner's request) = campaign %d, replayed %v, %v; want campaign %d replayed", i, r.c.ID, r.replayed, r.err, id)
			}
		default:
			var reused *campaign.IdempotencyKeyReusedError
			if !errors.As(r.err, &reused) || reused.CampaignID != id {
				t.Errorf("create %d (another request) = campaign %d, replayed %v, %v; want refused naming campaign %d", i, r.c.ID, r.replayed, r.err, id)
			}
		}
	}
	return id
}

// testIdempotentCreateRace guards the retry that overlaps the first
// attempt (a client timed out while the server was still creating): many
// creates under one key at once make one campaign; the others get it
// back, or are refused when their request differs.
func testIdempotentCreateRace(t *testing.T, b bundle) {
	for round := range 5 {
		key := fmt.Sprintf("race-%d", round)
		same := func(int) string { return "hash-a" }
		mixed := func(i int) string { return fmt.Sprintf("hash-%d", i%2) }
		hashOf := same
		if round%2 == 1 {
			hashOf = mixed
		}
		checkOneCreated(t, raceCreates(b.ctx, []campaign.Store{b.store}, 16, key, hashOf), hashOf)
	}
	if n := b.countCampaigns(t); n != 5 {
		t.Errorf("%d campaigns after 5 rounds of racing creates, want 5", n)
	}
}

// TestIdempotentCreateAcrossHandles races creates under one key through
// several handles on one database: API replicas on PostgreSQL (each its
// own pool), processes on one SQLite file (each its own connection).
func TestIdempotentCreateAcrossHandles(t *testing.T) {
	t.Parallel()
	for _, d := range []struct {
		name string
		url  func(t testing.TB) string
	}{
		{"postgres", func(t testing.TB) string { return testenv.Postgres(t) }},
		{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db") }},
	} {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			url := d.url(t)
			stores := []campaign.Store{openMigrated(t, url), openMigrated(t, url), openMigrated(t, url), openMigrated(t, url)}
			b := bundle{ctx: context.Background(), store: stores[0]}
			same := func(int) string { return "hash-a" }
			for round := range 5 {
				checkOneCreated(t, raceCreates(b.ctx, stores, 12, fmt.Sprintf("handles-%d", round), same), same)
			}
			if n := b.countCampaigns(t); n != 5 {
				t.Errorf("%d campaigns after 5 rounds, want 5", n)
			}
		})
	}
}
