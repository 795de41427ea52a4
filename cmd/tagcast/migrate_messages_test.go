package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
)

// TestMigrateErrorsNameTheProblem: two `tagcast migrate` errors that did
// not say what is wrong. up on a SQLite file in a directory that does not
// exist said "migrations: find the database file: unable to open database
// file (14)", naming neither the file nor the directory; down with nothing
// applied said goose's "no next version found" instead of "nothing to roll
// back".
func TestMigrateErrorsNameTheProblem(t *testing.T) {
	t.Parallel()
	missingDir := filepath.Join(t.TempDir(), "no-such-dir")
	r := runTagcast(t, cliEnv{}, "migrate", "up", "--database", "sqlite://"+filepath.Join(missingDir, "tagcast.db"))
	if r.code != 1 || !strings.Contains(r.stderr, missingDir) || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("migrate up on a file in a missing directory: %s; want exit 1 naming %s and that it does not exist", r, missingDir)
	}
	if _, err := os.Stat(missingDir); err == nil {
		t.Errorf("migrate up created %s", missingDir)
	}

	file := filepath.Join(t.TempDir(), "tagcast.db")
	env := cliEnv{vars: map[string]string{"TAGCAST_DATABASE_URL": "sqlite://" + file}}
	if r := runTagcast(t, env, "migrate", "up"); r.code != 0 {
		t.Fatalf("up: %s", r)
	}
	for range 9 {
		if r := runTagcast(t, env, "migrate", "down", "--force"); r.code != 0 {
			t.Fatalf("down: %s", r)
		}
	}
	r = runTagcast(t, env, "migrate", "down")
	if r.code != 1 || strings.Contains(r.stderr, "no next version found") ||
		!strings.Contains(r.stderr, "nothing to roll back: the database is at version 0") {
		t.Errorf("migrate down with no migration applied: %s; want exit 1 saying there is nothing to roll back", r)
	}
}

// TestMigrateDownFrom7RefusesToRewriteJSON: on PostgreSQL `migrate down`
// from 00007 casts a campaign's push and vars back to jsonb, rewriting
// their numbers for good. While campaigns hold them it refuses with exit
// 1, naming the columns and their counts and --force, which rolls it back.
func TestMigrateDownFrom7RefusesToRewriteJSON(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t)
	env := cliEnv{vars: map[string]string{"TAGCAST_DATABASE_URL": url}}
	if r := runTagcast(t, env, "migrate", "up"); r.code != 0 {
		t.Fatalf("up: %s", r)
	}
	db, _, err := sqlstore.OpenDB(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.ExecContext(context.Background(), `INSERT INTO campaigns (app, name, push, schedule, status, created_at, updated_at)
		VALUES ('main', 'winter-sale', '{"n":1E+2}', '{}', 'active', now(), now())`); err != nil {
		t.Fatal(err)
	}

	for _, step := range []string{"00009", "00008"} { // drop and rewrite nothing
		if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back "+step) {
			t.Fatalf("down from %s: %s", step, r)
		}
	}
	r := runTagcast(t, env, "migrate", "down")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "would rewrite columns that hold values") ||
		!strings.Contains(r.stderr, "campaigns.push to jsonb (a value in 1 row)") || !strings.Contains(r.stderr, "--force to rewrite them") {
		t.Errorf("down from 7 with a campaign: %s; want exit 1 naming campaigns.push (1 row) and --force, nothing on stdout", r)
	}
	var push string
	if err := db.QueryRowContext(context.Background(), `SELECT push::text FROM campaigns`).Scan(&push); err != nil || push != `{"n":1E+2}` {
		t.Errorf("after the refused down: push %s (%v), want it as written", push, err)
	}
	if r := runTagcast(t, env, "migrate", "down", "--force"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00007") {
		t.Errorf("down --force: %s", r)
	}
}
