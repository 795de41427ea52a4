package quotaprobe_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/internal/quotaprobe"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/quota"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// ledger is a store's record of attempts, for one app.
// redisClient is a client of a fresh redis-server, closed at cleanup.
func redisClient(t *testing.T) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

type ledger []time.Time

func (l *ledger) SentBetween(_ context.Context, _ string, from, to time.Time) ([]time.Time, error) {
	var out []time.Time
	for _, t := range *l {
		if !t.Before(from) && t.Before(to) {
			out = append(out, t)
		}
	}
	return out, nil
}

// A slot reserved and claimed is in the ledger; one reserved and not yet
// claimed is not, and Unclaimed counts it. At the very millisecond a
// rolling window frees its oldest slot, that slot is neither the guard's
// nor Unclaimed's; a fixed window still counts a slot taken margin before
// its start.
func TestUnclaimed(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, mode := range []quota.HourWindow{quota.HourRolling, quota.HourClock} {
		t.Run(string(mode), func(t *testing.T) {
			now := t0
			var l ledger
			app := "app-" + string(mode)
			g, err := quota.New(quota.Options{Client: rdb, Ledger: &l, Now: func() time.Time { return now },
				Apps: map[string]quota.Policy{app: {Hourly: 5, Daily: 100, HourWindow: mode}}})
			if err != nil {
				t.Fatal(err)
			}
			unclaimed := func(want int, when string) {
				t.Helper()
				st, err := g.Status(ctx, app)
				if err != nil {
					t.Fatal(err)
				}
				n, err := quotaprobe.Unclaimed(ctx, st, &l, quota.DefaultMargin)
				if err != nil || n != want {
					t.Errorf("%s: Unclaimed = %d (err %v), want %d", when, n, err, want)
				}
			}
			now = t0.Add(-quota.DefaultMargin) // margin before the clock hour
			if _, err := g.Reserve(ctx, app); err != nil {
				t.Fatal(err)
			}
			l = append(l, now)
			now = t0.Add(30 * time.Minute)
			if _, err := g.Reserve(ctx, app); err != nil {
				t.Fatal(err)
			}
			unclaimed(1, "second slot reserved, not claimed")
			l = append(l, now)
			unclaimed(0, "both claimed")

			// The first slot (margin before t0) is held by a rolling hour
			// for an hour and the margin: until t0+1h. A clock hour counts
			// it until its end, t0+1h too.
			now = t0.Add(time.Hour - time.Millisecond)
			unclaimed(0, "a millisecond before the first slot is free")
			now = t0.Add(time.Hour)
			unclaimed(0, "the millisecond the first slot is free")
			if _, err := g.Reserve(ctx, app); err != nil {
				t.Fatal(err)
			}
			unclaimed(1, "a slot reserved at that millisecond, not claimed")
		})
	}
}

// Unchanged tells a harness whether a slot was taken (or given back) since
// its quiet check read the windows.
func TestUnchanged(t *testing.T) {
	t.Parallel()
	rdb := redisClient(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var l ledger
	g, err := quota.New(quota.Options{Client: rdb, Ledger: &l, Now: func() time.Time { return now },
		Apps: map[string]quota.Policy{"main": {Hourly: 5, Daily: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Reserve(ctx, "main"); err != nil {
		t.Fatal(err)
	}
	before, err := g.Status(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if same, err := quotaprobe.Unchanged(ctx, g, "main", before); err != nil || !same {
		t.Errorf("nothing reserved since: Unchanged = %v, %v; want true", same, err)
	}
	res, err := g.Reserve(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if same, err := quotaprobe.Unchanged(ctx, g, "main", before); err != nil || same {
		t.Errorf("a slot reserved since: Unchanged = %v, %v; want false", same, err)
	}
	if err := g.Release(ctx, res); err != nil {
		t.Fatal(err)
	}
	if same, err := quotaprobe.Unchanged(ctx, g, "main", before); err != nil || !same {
		t.Errorf("the slot given back: Unchanged = %v, %v; want true", same, err)
	}
}
