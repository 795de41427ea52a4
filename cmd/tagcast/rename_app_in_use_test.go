package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/filelock"
)

// Was: `migrate rename-app` refused while a process holds the store's
// guard lock answered with reidentify's refusal ("reidentify is for a copy
// before its first start; ... Redis marked with the old identity"): a
// command the operator did not run and a consequence that is not
// rename-app's. Each command now says why it needs the store idle.
func TestRenameAppInUseRefusalNamesRenameApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "tagcast.db")
	url := "sqlite://" + file
	st, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordAppKeys(ctx, map[string]string{"main": "key-1"}); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	unlock, err := filelock.TryLockShared(file + ".guard.lock") // what a running process holds
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unlock() }()
	r := runTagcast(t, cliEnv{vars: map[string]string{"TAGCAST_DATABASE_URL": url}}, "migrate", "rename-app", "main", "marketing")
	if r.code != 1 || strings.Contains(r.stderr, "reidentify") || !strings.Contains(r.stderr, "rename") {
		t.Fatalf("rename-app while a process holds the guard lock: %s; want exit 1 with a refusal about rename-app, not reidentify's", r)
	}
}
