package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/filelock"
	"github.com/tagcast/tagcast/internal/testenv"
)

// `migrate reidentify` on a store whose processes run (they hold its guard
// lock, shared) is refused and changes nothing: restarted, those processes
// would refuse their Redis database, marked with the old identity. Once
// they are stopped, it goes ahead. (The help only warned.)
func TestReidentifyRefusesAStoreInUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	migrated := func(t *testing.T, url string) string {
		t.Helper()
		st, err := sqlstore.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = st.Close() }()
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		id, err := st.Identity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	identity := func(t *testing.T, url string) string {
		t.Helper()
		st, err := sqlstore.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = st.Close() }()
		id, err := st.Identity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	check := func(t *testing.T, url string, hold func() (release func())) {
		t.Helper()
		before := migrated(t, url)
		release := hold()
		env := cliEnv{vars: map[string]string{"TAGCAST_DATABASE_URL": url}}
		r := runTagcast(t, env, "migrate", "reidentify")
		if r.code != 1 || !strings.Contains(r.stderr, "a tagcast process works for this store") {
			t.Errorf("reidentify while a process holds the guard lock: %s; want exit 1, refused", r)
		}
		if got := identity(t, url); got != before {
			t.Errorf("refused, yet the identity changed: %s → %s", before, got)
		}
		release()
		if r := runTagcast(t, env, "migrate", "reidentify"); r.code != 0 {
			t.Errorf("reidentify once the process stopped: %s", r)
		}
		if got := identity(t, url); got == before {
			t.Errorf("reidentify kept identity %s", got)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "tagcast.db")
		check(t, "sqlite://"+file, func() func() {
			unlock, err := filelock.TryLockShared(file + ".guard.lock") // what a running process holds
			if err != nil {
				t.Fatal(err)
			}
			return func() { _ = unlock() }
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := testenv.Postgres(t)
		check(t, url, func() func() {
			db, _, err := sqlstore.OpenDB(url)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got bool
			if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock_shared($1)`, guardLockKey).Scan(&got); err != nil || !got {
				t.Fatalf("take the guard lock shared: %v %v", got, err)
			}
			return func() { closeAll(conn, db) }
		})
	})
}

func closeAll(conn *sql.Conn, db *sql.DB) {
	_ = conn.Close()
	_ = db.Close()
}
