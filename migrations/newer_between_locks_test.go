package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/pressly/goose/v3/lock"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/migrations"
)

// TestUpSeesANewerSchemaMigratedBetweenItsLocks: on PostgreSQL,
// Up reads the schema version (refuseNewer: goose's GetDBVersion takes and
// releases the session lock) and then lets goose take the lock again for
// Up. A newer tagcast that gets the lock in between and migrates to a
// version this binary does not embed is not seen: goose's Up then finds
// nothing to apply and Migrate returns nil, so this binary runs against a
// schema it does not know, which the package promises never happens ("A
// binary never migrates, nor runs against, a schema newer than the newest
// migration it embeds"). SQLite checks under the one file lock it migrates
// under. The interleaving is made deterministic here: a table lock holds
// this binary inside its version read, the newer tagcast queues for the
// advisory lock meanwhile, and PostgreSQL grants it on release.
func TestUpSeesANewerSchemaMigratedBetweenItsLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.Postgres(t)
	known := newestVersion(t)
	migratedStore(t, url) // at version known, this binary's newest

	newer, _, err := sqlstore.OpenDB(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = newer.Close() })
	conn := func() *sql.Conn {
		c, err := newer.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	tableLock, migrator := conn(), conn()
	var migratorPID int
	if err := migrator.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&migratorPID); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what, q string, args ...any) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var ok bool
			if err := newer.QueryRowContext(ctx, q, args...).Scan(&ok); err != nil {
				t.Fatal(err)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("never: %s", what)
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, not timing logic
		}
	}

	// Hold the version table, so this binary's version read waits with
	// goose's lock held.
	if _, err := tableLock.ExecContext(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := tableLock.ExecContext(ctx, `LOCK TABLE goose_db_version IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	// This binary starts (every role runs Store.Migrate first).
	older, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = older.Close() })
	errc := make(chan error, 1)
	go func() { errc <- older.Migrate(ctx) }()
	waitFor("the older binary holds goose's lock, reading the version",
		`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`)

	// The newer tagcast queues for goose's lock.
	got := make(chan error, 1)
	go func() {
		_, err := migrator.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lock.DefaultLockID)
		got <- err
	}()
	waitFor("the newer tagcast waits for goose's lock",
		`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = $1)`, migratorPID)

	// The older binary reads version known and releases the lock: the
	// newer tagcast gets it, migrates to known+1 and releases it.
	if _, err := tableLock.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if _, err := migrator.ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, known+1); err != nil {
		t.Fatal(err)
	}
	if _, err := migrator.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, lock.DefaultLockID); err != nil {
		t.Fatal(err)
	}

	select {
	case err := <-errc:
		var tooNew *migrations.SchemaTooNewError
		if !errors.As(err, &tooNew) || tooNew.Version != known+1 || tooNew.Known != known {
			t.Errorf("Migrate of a binary knowing up to %d, on a schema another tagcast took to %d between its version check and its Up = %v; "+
				"want a *SchemaTooNewError (version %d, known %d): it goes on to run against a schema it does not know",
				known, known+1, err, known+1, known)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Migrate did not return")
	}
}
