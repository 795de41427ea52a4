package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/filelock"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/migrations"
)

// bothDialects are the databases every guard here is checked on.
var bothDialects = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"postgres", func(t *testing.T) string { return testenv.Postgres(t) }},
	{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "m.db") }},
}

// migratedStore opens a new store at url and migrates it up.
func migratedStore(t *testing.T, url string) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// exec runs q on the store, failing the test on error.
func exec(t *testing.T, st *sqlstore.Store, q string) {
	t.Helper()
	if _, err := st.DB().ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// appliedVersions are the versions Status reports applied, unknown ones
// marked with a "?".
func appliedVersions(t *testing.T, st *sqlstore.Store) []string {
	t.Helper()
	ss, err := migrations.Status(context.Background(), st.DB(), st.Dialect())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	var out []string
	for _, s := range ss {
		if s.Applied {
			v := fmt.Sprint(s.Version)
			if s.Unknown {
				v += "?"
			}
			out = append(out, v)
		}
	}
	return out
}

// newestVersion is the version of the newest migration this binary embeds
// (what a *SchemaTooNewError calls Known), read from the embedded files as
// goose reads them; it fails the test unless both dialects agree.
func newestVersion(t *testing.T) int64 {
	t.Helper()
	newest := map[migrations.Dialect]int64{}
	for _, d := range []migrations.Dialect{migrations.Postgres, migrations.SQLite} {
		fsys, err := migrations.FS(d)
		if err != nil {
			t.Fatal(err)
		}
		names, err := fs.Glob(fsys, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			v, err := goose.NumericComponent(name)
			if err != nil {
				t.Fatalf("%s %s: %v", d, name, err)
			}
			newest[d] = max(newest[d], v)
		}
	}
	if newest[migrations.Postgres] != newest[migrations.SQLite] || newest[migrations.Postgres] == 0 {
		t.Fatalf("newest embedded migration: %v; want one, the same for both dialects", newest)
	}
	return newest[migrations.Postgres]
}

// versionsUpTo are the versions 1 to n, as appliedVersions lists them.
func versionsUpTo(n int64) []string {
	var out []string
	for v := int64(1); v <= n; v++ {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// rollBackNewerThan rolls back, one Down(KeepData) at a time, every step
// newer than version v, from the newest: each must be rolled back, alone,
// not refused (00008 keeps its table and drops nothing).
func rollBackNewerThan(t *testing.T, db *sql.DB, d migrations.Dialect, v int64) {
	t.Helper()
	for top := newestVersion(t); top > v; top-- {
		if res, err := migrations.Down(context.Background(), db, d, migrations.KeepData); err != nil || len(res) != 1 || res[0].Version != top {
			t.Fatalf("down from %d = %v, %v; want %05d rolled back, not refused", top, res, err, top)
		}
	}
}

// TestRefusesNewerSchema guards a rolled-back deploy: a binary on a
// database where a newer tagcast applied migrations it does not embed must
// refuse to start (every role runs Store.Migrate first) and to roll back,
// naming both versions, instead of running its queries against a schema it
// does not know; and status must show the version it does not know.
func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	for _, tc := range bothDialects {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migratedStore(t, tc.url(t))
			// A newer tagcast applied migration 99 (and, say, changed a column).
			applied := "true"
			if st.Dialect() == migrations.SQLite {
				applied = "1"
			}
			exec(t, st, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, `+applied+`)`)

			newest := newestVersion(t)
			want := &migrations.SchemaTooNewError{Version: 99, Known: newest}
			err := st.Migrate(ctx)
			var got *migrations.SchemaTooNewError
			if !errors.As(err, &got) || *got != *want || !strings.Contains(err.Error(), fmt.Sprintf("database schema is at version 99, this tagcast knows up to %d", newest)) {
				t.Errorf("Migrate on a schema at version 99 with a binary that knows up to %d = %v; want %v", newest, err, want)
			}
			if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.DropData); !errors.As(err, &got) || len(res) != 0 {
				t.Errorf("Down on a newer schema = %v, %v; want the refusal and nothing rolled back", res, err)
			}
			if diff := cmp.Diff(append(versionsUpTo(newest), "99?"), appliedVersions(t, st)); diff != "" {
				t.Errorf("status: applied versions, unknown ones marked ? (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDownRefusesToDropRows guards the operator's data: rolling back the
// first migration drops every table, the quota ledger included (what keeps
// the quota guard under the service's quota after a Redis loss), so Down
// refuses while they hold rows unless told DropData, and says which.
func TestDownRefusesToDropRows(t *testing.T) {
	t.Parallel()
	for _, tc := range bothDialects {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migratedStore(t, tc.url(t))
			exec(t, st, `INSERT INTO quota_ledger (app, sent_at, outcome) VALUES ('main', CURRENT_TIMESTAMP, 'sent'), ('main', CURRENT_TIMESTAMP, 'unknown')`)
			exec(t, st, `INSERT INTO campaigns (app, name, push, schedule, status, created_at, updated_at)
				VALUES ('main', 'winter-sale', '{}', '{}', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`)

			// The steps after 00007 drop nothing (00008 keeps its table):
			// not refused, though the tables hold rows.
			rollBackNewerThan(t, st.DB(), st.Dialect(), 7)
			// 00007 drops nothing; on PostgreSQL it casts the campaign's
			// push and vars back to jsonb, rewriting them: refused, unless
			// told DropData (down_json_test.go).
			data := migrations.KeepData
			if st.Dialect() == migrations.Postgres {
				data = migrations.DropData
			}
			if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), data); err != nil || len(res) != 1 || res[0].Version != 7 {
				t.Fatalf("down from 7 = %v, %v; want 00007 rolled back", res, err)
			}
			// A run re-opened under a retry's idempotency key: 00006 would
			// drop its record.
			exec(t, st, `INSERT INTO runs (campaign_id, app, scheduled_for, status, created_at, updated_at)
				SELECT id, 'main', CURRENT_TIMESTAMP, 'pending', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM campaigns`)
			exec(t, st, `INSERT INTO retry_requests (idempotency_key, request_hash, created_at) VALUES ('k1', 'h', CURRENT_TIMESTAMP)`)
			exec(t, st, `INSERT INTO retry_keys (idempotency_key, run_id, reset, created_at)
				SELECT 'k1', id, 1, CURRENT_TIMESTAMP FROM runs`)
			res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData)
			var loss *migrations.DataLossError
			if !errors.As(err, &loss) || len(res) != 0 || loss.Migration != "00006_retry_keys.sql" {
				t.Fatalf("down from 6 with a retry key = %v, %v; want a *DataLossError for 00006", res, err)
			}
			exec(t, st, `DELETE FROM retry_requests`) // and its retry_keys, ON DELETE CASCADE
			exec(t, st, `DELETE FROM runs`)
			if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData); err != nil || len(res) != 1 || res[0].Version != 6 {
				t.Fatalf("down from 6, empty = %v, %v; want 00006 rolled back", res, err)
			}
			// 00005 drops an index, 00004 the idempotency key's index and
			// columns, no table: they roll back.
			if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData); err != nil || len(res) != 1 || res[0].Version != 5 {
				t.Fatalf("down from 5 = %v, %v; want 00005 rolled back", res, err)
			}
			if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData); err != nil || len(res) != 1 || res[0].Version != 4 {
				t.Fatalf("down from 4 = %v, %v; want 00004 rolled back", res, err)
			}
			// A recorded quota block: 00003 would drop it.
			exec(t, st, `INSERT INTO quota_blocks (app, blocked_until, updated_at) VALUES ('main', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`)
			res, err = migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData)
			if !errors.As(err, &loss) || len(res) != 0 || loss.Migration != "00003_quota_blocks.sql" {
				t.Fatalf("down from 3 with a block = %v, %v; want a *DataLossError for 00003", res, err)
			}
			exec(t, st, `DELETE FROM quota_blocks`)
			if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData); err != nil || len(res) != 1 || res[0].Version != 3 {
				t.Fatalf("down from 3, empty = %v, %v; want 00003 rolled back", res, err)
			}
			// 00002 drops a column, no table: it rolls back.
			if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData); err != nil || len(res) != 1 || res[0].Version != 2 {
				t.Fatalf("down from 2 = %v, %v; want 00002 rolled back", res, err)
			}
			res, err = migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData)
			if !errors.As(err, &loss) || len(res) != 0 {
				t.Fatalf("down from 1 with rows = %v, %v; want a *DataLossError and nothing rolled back", res, err)
			}
			want := &migrations.DataLossError{Migration: "00001_campaigns.sql", Tables: []migrations.TableRows{{Table: "quota_ledger", Rows: 2}, {Table: "campaigns", Rows: 1}}}
			if diff := cmp.Diff(want, loss); diff != "" {
				t.Errorf("refusal (-want +got):\n%s", diff)
			}
			if msg := err.Error(); !strings.Contains(msg, "quota_ledger (2 rows), campaigns (1 row)") {
				t.Errorf("refusal %q does not name the tables and their rows", msg)
			}
			if diff := cmp.Diff([]string{"1"}, appliedVersions(t, st)); diff != "" {
				t.Errorf("after the refusal (-want +got):\n%s", diff)
			}
			if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.DropData); err != nil || len(res) != 1 || res[0].Version != 1 {
				t.Errorf("down from 1 with DropData = %v, %v; want 00001 rolled back", res, err)
			}
			if got := appliedVersions(t, st); len(got) != 0 {
				t.Errorf("after DropData: applied %v", got)
			}
		})
	}
}

// TestSQLiteMigrationWaitsForTheLock guards the serialisation of SQLite
// migrations across processes: while another process holds the file's
// migration lock, Up waits (here until its context ends) and touches
// nothing. Deterministic: the lock is never released during the wait.
func TestSQLiteMigrationWaitsForTheLock(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "m.db")
	unlock, err := filelock.TryLock(file + ".migrate.lock") // another process, migrating
	if err != nil {
		t.Fatal(err)
	}
	db, dialect, err := sqlstore.OpenDB("sqlite://" + file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if res, err := migrations.Up(ctx, db, dialect); !errors.Is(err, context.DeadlineExceeded) || len(res) != 0 {
		t.Errorf("Up while another process holds the migration lock = %v, %v; want it to wait until the context ends", res, err)
	}
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("while waiting: %d tables, %v; want none created", tables, err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if res, err := migrations.Up(context.Background(), db, dialect); err != nil || int64(len(res)) != newestVersion(t) {
		t.Errorf("Up once the lock is free = %v, %v", res, err)
	}
}

// TestSQLiteConcurrentFirstMigrate guards what the lock is for: processes
// starting together on a new SQLite file (tagcast scheduler and worker, or
// migrate up while serve starts) all migrate up without error. Each store
// is one "process" (a handle of its own, so its own lock file open). A few
// rounds: before the lock, most rounds had a "table campaigns already
// exists".
func TestSQLiteConcurrentFirstMigrate(t *testing.T) {
	t.Parallel()
	for round := range 4 {
		url := "sqlite://" + filepath.Join(t.TempDir(), fmt.Sprintf("m%d.db", round))
		const n = 3
		stores := make([]*sqlstore.Store, n)
		for i := range stores {
			st, err := sqlstore.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			stores[i] = st
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, st := range stores {
			wg.Go(func() {
				<-start
				errs[i] = st.Migrate(context.Background())
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: process %d: migrate up: %v", round, i, err)
			}
		}
		if diff := cmp.Diff(versionsUpTo(newestVersion(t)), appliedVersions(t, stores[0])); diff != "" {
			t.Errorf("round %d: applied (-want +got):\n%s", round, diff)
		}
	}
}

// TestStatusAppliedAtIsUTC guards `migrate status`'s APPLIED AT, printed as
// UTC: goose's PostgreSQL version table stores a timestamp without time
// zone (now() in the session's TimeZone), so on a server whose zone is not
// UTC (initdb takes the host's) it was off by the zone's offset.
func TestStatusAppliedAtIsUTC(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"postgres Asia/Shanghai", func(t *testing.T) string { return testenv.Postgres(t) + "&timezone=Asia/Shanghai" }},
		{"postgres America/New_York", func(t *testing.T) string { return testenv.Postgres(t) + "&timezone=America/New_York" }},
		bothDialects[1],
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, dialect, err := sqlstore.OpenDB(tc.url(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			before := time.Now().UTC().Add(-time.Minute)
			if _, err := migrations.Up(ctx, db, dialect); err != nil {
				t.Fatal(err)
			}
			after := time.Now().UTC().Add(time.Minute)
			ss, err := migrations.Status(ctx, db, dialect)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range ss {
				at, err := time.Parse(time.RFC3339, s.AppliedAt)
				if err != nil || at.Before(before) || at.After(after) {
					t.Errorf("migration %d applied_at = %q, want a UTC time between %s and %s", s.Version, s.AppliedAt,
						before.Format(time.RFC3339), after.Format(time.RFC3339))
				}
			}
		})
	}
}
