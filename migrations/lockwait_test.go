package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3/lock"

	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/migrations"
)

// TestPostgresLockWaitErrorNamesTheLock: while another process holds
// goose's advisory lock (a long 00007 on a large sends table), a process
// whose context ends while waiting failed with "migrations: up: read the
// schema version: context deadline exceeded": it named neither the lock
// nor the wait, and pointed at the version read. Like SQLite's wait ("lock
// FILE against concurrent migrations"), the error now says it was waiting
// for another tagcast process's migration lock, and names the server
// process holding it. Deterministic: the lock is never released during the
// wait.
func TestPostgresLockWaitErrorNamesTheLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t, testenv.Postgres(t))
	holder, err := st.DB().Conn(ctx) // another process, migrating
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Close() })
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lock.DefaultLockID); err != nil {
		t.Fatal(err)
	}
	var pid int64
	if err := holder.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}

	for _, op := range []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"up", func(ctx context.Context) error { _, err := migrations.Up(ctx, st.DB(), st.Dialect()); return err }},
		{"down", func(ctx context.Context) error {
			_, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData)
			return err
		}},
		{"status", func(ctx context.Context) error { _, err := migrations.Status(ctx, st.DB(), st.Dialect()); return err }},
	} {
		wait, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		err := op.run(wait)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s while another process holds the lock = %v; want it to wait until the context ends", op.name, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "for another tagcast process's migration lock") {
			t.Errorf("%s gave up waiting for another process's migration lock with %q: it does not say it was waiting for the lock", op.name, msg)
		}
		if by := fmt.Sprintf("held by PostgreSQL server process %d", pid); !strings.Contains(msg, by) {
			t.Errorf("%s: %q does not name the holder (%s)", op.name, msg, by)
		}
		if !strings.HasPrefix(msg, "migrations: "+op.name+": ") || strings.Contains(msg, "read the schema version") || strings.Contains(msg, "failed to initialize") {
			t.Errorf("%s: %q; want it to name the operation, not the step it never began", op.name, msg)
		}
	}
	// Read past the lock (migrations.Status would wait for it).
	newest := newestVersion(t)
	var n, top int64
	if err := st.DB().QueryRowContext(ctx, `SELECT count(*), max(version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&n, &top); err != nil || n != newest || top != newest {
		t.Errorf("after the waits: %d versions applied, the newest %d (%v); want 1 to %d untouched", n, top, err, newest)
	}
}
