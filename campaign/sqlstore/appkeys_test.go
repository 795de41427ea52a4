package sqlstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
)

// The quota counts per App Key; the guard, the ledger, its blocks and the
// campaigns know an app by its name. RecordAppKeys refuses an App Key the
// store knows under another name (an app renamed in the configuration
// would start on empty windows), accepts a new key under a known name
// (its windows still count the old key's pushes: held back, never over),
// and RenameApp renames an app in every table at once.
func TestAppKeysAndRenameApp(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := d.url(t)
			s := openMigrated(t, url)
			if err := s.RecordAppKeys(ctx, map[string]string{"main": "key-1", "other": "key-2"}); err != nil {
				t.Fatal(err)
			}
			if err := s.RecordAppKeys(ctx, map[string]string{"main": "key-1", "other": "key-2"}); err != nil {
				t.Fatalf("the same apps again: %v", err)
			}
			// A fire of main: a campaign, a run, a send, a ledger entry and a block.
			c, err := s.Create(ctx, newCampaign("main", "sale", t0, 0), t0)
			if err != nil {
				t.Fatal(err)
			}
			runs, err := s.ClaimDue(ctx, t0, t0, 10, campaign.SimplePlan(time.Minute))
			if err != nil || len(runs) != 1 {
				t.Fatalf("claim: %v %v", runs, err)
			}
			_, sends, err := s.GetRun(ctx, runs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.ClaimSend(ctx, sends[0].ID, t0, time.Minute); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SaveBlock(ctx, "main", t0.Add(time.Hour), t0); err != nil {
				t.Fatal(err)
			}

			// main renamed marketing in the configuration, same App Key.
			err = s.RecordAppKeys(ctx, map[string]string{"marketing": "key-1", "other": "key-2"})
			var re *sqlstore.AppRenamedError
			if !errors.As(err, &re) || re.App != "marketing" || re.RecordedAs != "main" ||
				!strings.Contains(err.Error(), "tagcast migrate rename-app main marketing") {
				t.Fatalf("an App Key recorded under another name: %v; want *AppRenamedError naming rename-app main marketing", err)
			}
			// A new App Key under a known name is taken.
			if err := s.RecordAppKeys(ctx, map[string]string{"main": "key-1", "other": "key-3"}); err != nil {
				t.Errorf("a new App Key for other: %v", err)
			}

			if _, err := sqlstore.RenameApp(ctx, s.DB(), s.Dialect(), "main", "other"); err == nil || !strings.Contains(err.Error(), "already has rows") {
				t.Errorf("rename onto an app with rows: %v; want refused", err)
			}
			if _, err := sqlstore.RenameApp(ctx, s.DB(), s.Dialect(), "nobody", "fresh"); err == nil || !strings.Contains(err.Error(), "no row of this store names app nobody") {
				t.Errorf("rename of an unknown app: %v; want refused", err)
			}
			renamed, err := sqlstore.RenameApp(ctx, s.DB(), s.Dialect(), "main", "marketing")
			if err != nil {
				t.Fatal(err)
			}
			for table, want := range map[string]int64{"campaigns": 1, "runs": 1, "sends": 1, "quota_blocks": 1, "app_keys": 1} {
				if renamed[table] != want {
					t.Errorf("renamed %s: %d rows, want %d (all: %v)", table, renamed[table], want, renamed)
				}
			}
			if err := s.RecordAppKeys(ctx, map[string]string{"marketing": "key-1", "other": "key-3"}); err != nil {
				t.Errorf("after rename-app, the renamed configuration: %v", err)
			}
			got, err := s.Get(ctx, c.ID, campaign.RunsQuery{})
			if err != nil || got.App != "marketing" {
				t.Errorf("campaign after rename: app %q, %v; want marketing", got.App, err)
			}
			if until, err := s.BlockedUntil(ctx, "marketing"); err != nil || !until.Equal(t0.Add(time.Hour)) {
				t.Errorf("block after rename: %v, %v; want until %v", until, err, t0.Add(time.Hour))
			}
		})
	}
}
