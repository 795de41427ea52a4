package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
)

// TestSQLiteCommitsAreDurable: a send is claimed (pending → in_flight,
// committed) before its /push.json call, so that after a crash it is found
// in flight and becomes unknown instead of being sent again; the quota
// ledger, from which the guard rebuilds its windows, is written the same
// way. The SQLite store opens its file in WAL mode with synchronous=NORMAL,
// under which, as SQLite documents, a committed transaction "might roll
// back following a power loss or system crash": the WAL is not synced at
// commit. A host that loses power after the call has gone out comes back
// with the claim (and the ledger row) gone, the send pending, and sends it
// again, one more push than the quota allows. PostgreSQL syncs at every
// commit (synchronous_commit on). The commits the store's promises rest on
// must be durable: synchronous FULL (2) or EXTRA (3) in WAL mode.
func TestSQLiteCommitsAreDurable(t *testing.T) {
	t.Parallel()
	st := openMigrated(t, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"))
	var mode string
	var sync int
	db := st.DB()
	if err := db.QueryRowContext(context.Background(), `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if mode == "wal" && sync < 2 {
		t.Errorf("SQLite store: journal_mode %s with synchronous %d (NORMAL): a commit (a send's claim, a ledger row) "+
			"may roll back after a power loss, and the send go out twice; want synchronous FULL (2)", mode, sync)
	}
}
