package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite"

	"github.com/tagcast/tagcast/internal/testenv"
)

func TestMigrateUpDownStatus(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tagcast.db")
	db := "sqlite://" + file
	env := cliEnv{vars: map[string]string{"TAGCAST_DATABASE_URL": db}}
	// An empty database file (status refuses a file that does not exist).
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	applied := func() []bool {
		t.Helper()
		r := runTagcast(t, env, "migrate", "status", "--output", "json")
		if r.code != 0 {
			t.Fatalf("status: %s", r)
		}
		var st []struct {
			Applied bool `json:"applied"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status output: %v\n%s", err, r)
		}
		var out []bool
		for _, s := range st {
			out = append(out, s.Applied)
		}
		return out
	}
	if diff := cmp.Diff([]bool{false, false, false, false, false, false, false, false, false}, applied()); diff != "" {
		t.Errorf("fresh (-want +got):\n%s", diff)
	}
	if r := runTagcast(t, env, "migrate", "up"); r.code != 0 || !strings.Contains(r.stdout, "applied 00001 00001_campaigns.sql") ||
		!strings.Contains(r.stdout, "applied 00002 00002_claimed_by.sql") || !strings.Contains(r.stdout, "applied 00003 00003_quota_blocks.sql") ||
		!strings.Contains(r.stdout, "applied 00004 00004_idempotency_key.sql") || !strings.Contains(r.stdout, "applied 00005 00005_runs_campaign.sql") ||
		!strings.Contains(r.stdout, "applied 00006 00006_retry_keys.sql") || !strings.Contains(r.stdout, "applied 00007 00007_json_as_written.sql") ||
		!strings.Contains(r.stdout, "applied 00008 00008_store_identity.sql") || !strings.Contains(r.stdout, "applied 00009 00009_app_keys.sql") {
		t.Fatalf("up: %s", r)
	}
	if diff := cmp.Diff([]bool{true, true, true, true, true, true, true, true, true}, applied()); diff != "" {
		t.Errorf("after up (-want +got):\n%s", diff)
	}
	if r := runTagcast(t, env, "migrate", "up"); r.code != 0 || !strings.Contains(r.stdout, "nothing applied") {
		t.Errorf("second up: %s", r)
	}
	// down rolls back the newest migration only.
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00009") {
		t.Fatalf("down: %s", r)
	}
	if diff := cmp.Diff([]bool{true, true, true, true, true, true, true, true, false}, applied()); diff != "" {
		t.Errorf("after down (-want +got):\n%s", diff)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00008") {
		t.Fatalf("down: %s", r)
	}
	if diff := cmp.Diff([]bool{true, true, true, true, true, true, true, false, false}, applied()); diff != "" {
		t.Errorf("after down (-want +got):\n%s", diff)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00007") {
		t.Fatalf("down: %s", r)
	}
	if diff := cmp.Diff([]bool{true, true, true, true, true, true, false, false, false}, applied()); diff != "" {
		t.Errorf("after down (-want +got):\n%s", diff)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00006") {
		t.Fatalf("down: %s", r)
	}
	if diff := cmp.Diff([]bool{true, true, true, true, true, false, false, false, false}, applied()); diff != "" {
		t.Errorf("after down (-want +got):\n%s", diff)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00005") {
		t.Fatalf("down: %s", r)
	}
	if diff := cmp.Diff([]bool{true, true, true, true, false, false, false, false, false}, applied()); diff != "" {
		t.Errorf("after down (-want +got):\n%s", diff)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00004") {
		t.Fatalf("down: %s", r)
	}
	if diff := cmp.Diff([]bool{true, true, true, false, false, false, false, false, false}, applied()); diff != "" {
		t.Errorf("after down (-want +got):\n%s", diff)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00003") {
		t.Fatalf("down: %s", r)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00002") {
		t.Fatalf("down: %s", r)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00001") {
		t.Fatalf("second down: %s", r)
	}
	if diff := cmp.Diff([]bool{false, false, false, false, false, false, false, false, false}, applied()); diff != "" {
		t.Errorf("after the last down (-want +got):\n%s", diff)
	}
	// --database wins over the environment.
	other := "sqlite://" + filepath.Join(t.TempDir(), "other.db")
	if r := runTagcast(t, env, "migrate", "up", "--database", other); r.code != 0 {
		t.Fatalf("up --database: %s", r)
	}
	if diff := cmp.Diff([]bool{false, false, false, false, false, false, false, false, false}, applied()); diff != "" {
		t.Errorf("--database migrated the env database (-want +got):\n%s", diff)
	}
}

func TestMigrateErrors(t *testing.T) {
	t.Parallel()
	if r := runTagcast(t, cliEnv{}, "migrate"); r.code != 2 {
		t.Errorf("migrate without subcommand: %s", r)
	}
	r := runTagcast(t, cliEnv{}, "migrate", "up", "--database", "mysql://u@h/db")
	if r.code == 0 || !strings.Contains(r.stderr, "database.url") {
		t.Errorf("bad scheme: %s", r)
	}
	// An unreachable database: the error, and no "nothing applied".
	unreachable := "postgres://u@" + testenv.FreeAddr(t) + "/db?sslmode=disable&connect_timeout=2"
	for _, sub := range []string{"up", "down"} {
		r = runTagcast(t, cliEnv{}, "migrate", sub, "--database", unreachable)
		if r.code != 1 || r.stdout != "" || r.stderr == "" {
			t.Errorf("migrate %s on an unreachable database: %s, want exit 1, the error and nothing on stdout", sub, r)
		}
	}
}

// sqliteExec runs statements on a SQLite file the way another process
// would, outside the command under test.
func sqliteExec(t *testing.T, file string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	for _, q := range stmts {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// sqliteCount is the number of rows in table of a SQLite file.
func sqliteCount(t *testing.T, file, table string) int {
	t.Helper()
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// TestMigrateDownKeepsData guards the operator's data: `migrate down` from
// the first migration drops campaigns, runs, sends and the quota ledger
// (what keeps the quota guard under the service's quota after a Redis
// loss). While they hold rows it refuses with exit 1, naming the tables and
// their rows, and only --force drops them.
func TestMigrateDownKeepsData(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tagcast.db")
	env := cliEnv{vars: map[string]string{"TAGCAST_DATABASE_URL": "sqlite://" + file}}
	if r := runTagcast(t, env, "migrate", "up"); r.code != 0 {
		t.Fatalf("up: %s", r)
	}
	sqliteExec(t, file, `INSERT INTO campaigns (app, name, push, schedule, status, next_run_at, created_at, updated_at)
		VALUES ('main', 'winter-sale', '{}', '{}', 'active', 1, 1, 1)`)

	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00009") {
		t.Fatalf("down from 9 (no app key recorded): %s", r)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00008") {
		t.Fatalf("down from 8 (keeps the store's identity, drops nothing): %s", r)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00007") {
		t.Fatalf("down from 7 (changes column types, drops nothing): %s", r)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00006") {
		t.Fatalf("down from 6 (no retry under an idempotency key recorded): %s", r)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00005") {
		t.Fatalf("down from 5 (drops an index, no table): %s", r)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00004") {
		t.Fatalf("down from 4 (drops an index and columns, no table): %s", r)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00003") {
		t.Fatalf("down from 3 (no quota block recorded): %s", r)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00002") {
		t.Fatalf("down from 2 (drops a column, no table): %s", r)
	}
	r := runTagcast(t, env, "migrate", "down")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "campaigns (1 row)") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("down from 1 with a campaign: %s; want exit 1 naming campaigns (1 row) and --force, nothing on stdout", r)
	}
	if n := sqliteCount(t, file, "campaigns"); n != 1 {
		t.Errorf("after the refused down: %d campaigns, want 1", n)
	}
	if r := runTagcast(t, env, "migrate", "down", "--force"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00001") {
		t.Errorf("down --force: %s", r)
	}
}

// TestMigrateRefusesNewerSchema guards a rolled-back deploy: on a database
// a newer tagcast migrated, `migrate up` exits 1 naming both versions, and
// `migrate status` shows the version this binary does not know.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tagcast.db")
	env := cliEnv{vars: map[string]string{"TAGCAST_DATABASE_URL": "sqlite://" + file}}
	if r := runTagcast(t, env, "migrate", "up"); r.code != 0 {
		t.Fatalf("up: %s", r)
	}
	sqliteExec(t, file, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, 1)`)

	if r := runTagcast(t, env, "migrate", "up"); r.code != 1 || !strings.Contains(r.stderr, "database schema is at version 99, this tagcast knows up to 9: upgrade tagcast") {
		t.Errorf("up on a newer schema: %s", r)
	}
	r := runTagcast(t, env, "migrate", "status")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if last := strings.Fields(lines[len(lines)-1]); r.code != 0 || len(lines) != 11 || last[0] != "99" || !strings.Contains(r.stdout, "(unknown to this tagcast: upgrade it)  true") {
		t.Errorf("status on a newer schema: %s; want a last row for version 99, unknown to this tagcast, applied", r)
	}
	r = runTagcast(t, env, "migrate", "status", "--output", "json")
	var st []struct {
		Version int64 `json:"version"`
		Unknown bool  `json:"unknown"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st) != 10 || st[9].Version != 99 || !st[9].Unknown {
		t.Errorf("status --output json on a newer schema: %v\n%s", err, r)
	}
}
