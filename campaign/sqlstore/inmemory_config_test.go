package sqlstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/config"
)

// config.Validate refuses an in-memory SQLite store in every spelling the
// driver opens as one (sqlite://:memory:, ?mode=memory, the URI file name
// file::memory:, the memdb VFS): one forgets the quota ledger with its
// process. The last two once passed the check.
func TestConfigRefusesEveryInMemorySQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, url := range []string{"sqlite://file::memory:", "sqlite://file:tagcast?vfs=memdb"} {
		cfg := config.Default()
		cfg.Database.URL = url
		if err := cfg.Validate(); err != nil {
			continue // refused: as it should be
		}
		// Accepted: show that the store forgets what it recorded once the
		// process's connection is gone (each `tagcast push send`).
		s, err := sqlstore.Open(ctx, url)
		if err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.BeginDirectAttempt(ctx, "main", t0); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		again, err := sqlstore.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if err := again.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		sent, err := again.SentBetween(ctx, "main", t0.Add(-time.Hour), t0.Add(time.Hour))
		_ = again.Close()
		t.Errorf("config.Validate accepts database.url %s, an in-memory store: the next process's ledger holds %d of the 1 push recorded (%v)",
			url, len(sent), err)
	}
}

// Campaign files refuse instants past year 9999 as the store will keep
// them, rounded up to the microsecond: an instant in the last microsecond
// of 9999 is refused by ParseFile, where it once passed and then failed at
// Create with an internal error (the admin API's 500).
func TestAnAtInTheLastMicrosecondOf9999IsRefused(t *testing.T) {
	t.Parallel()
	file := []byte(`
name: far
app: main
schedule: {at: "9999-12-31T23:59:59.9999995Z"}
push:
  platform: [ios, android]
  fromuserid: system
  audience: {tag: [news], is_to_all: false}
  message: {objectName: "RC:TxtMsg", content: '{"content":"hi"}'}
  notification: {alert: hi}
`)
	c, err := campaign.ParseFile(file, campaign.ValidateOptions{Now: t0, Apps: []string{"main"}})
	var ve *campaign.ValidationError
	if errors.As(err, &ve) && len(ve.Problems) == 1 && ve.Problems[0].Path == "schedule.at" {
		return // refused as a validation problem of schedule.at: fine
	}
	if err != nil {
		t.Fatalf("ParseFile: %v (the file must be valid but for its instant)", err)
	}
	st := openMigrated(t, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"))
	if _, err := st.Create(context.Background(), c, t0); err != nil {
		t.Errorf("ParseFile accepted at 9999-12-31T23:59:59.9999995Z, then Create failed (validation error: %v): %v",
			errors.As(err, &ve), err)
	}
}
