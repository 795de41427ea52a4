package migrations

import (
	"io/fs"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDroppedTables guards the reading of a migration's Down section that
// Down's data-loss refusal relies on: every table it drops is found, and
// nothing else (the Up section, comments, a table rebuilt in place).
func TestDroppedTables(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql string
		want      []string
	}{
		{"no down", "-- +goose Up\nCREATE TABLE a (x int);\n", nil},
		{"up is not down", "-- +goose Up\nDROP TABLE old;\n-- +goose Down\nDROP TABLE a;\n", []string{"a"}},
		{"down before up", "-- +goose Down\nDROP TABLE a;\n-- +goose Up\nDROP TABLE old;\n", []string{"a"}},
		{"several, quoted, cascade", "-- +goose Down\ndrop table if exists a, \"b\" CASCADE;\nDROP TABLE public.c;\n", []string{"a", "b", "public.c"}},
		{"comments", "-- +goose Down\n-- DROP TABLE a;\nDROP TABLE b; -- not DROP TABLE c\n", []string{"b"}},
		{"column only", "-- +goose Down\nALTER TABLE sends DROP COLUMN claimed_by;\n", nil},
		{"statement block", "-- +goose Down\n-- +goose StatementBegin\nDROP TABLE a;\n-- +goose StatementEnd\n", []string{"a"}},
		{"rebuilt in place", "-- +goose Down\nCREATE TABLE sends_new (x int);\nINSERT INTO sends_new SELECT x FROM sends;\nDROP TABLE sends;\nALTER TABLE sends_new RENAME TO sends;\n", nil},
	} {
		if diff := cmp.Diff(tc.want, droppedTables(tc.sql)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestEmbeddedMigrationsDroppedTables pins what the embedded migrations'
// Down sections drop, so a new migration's are read as meant.
func TestEmbeddedMigrationsDroppedTables(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"00001_campaigns.sql":    {"quota_ledger", "sends", "runs", "campaigns"},
		"00002_claimed_by.sql":   nil,
		"00003_quota_blocks.sql": {"quota_blocks"},
		// drops an index and two columns, no table
		"00004_idempotency_key.sql": nil,
		"00005_runs_campaign.sql":   nil, // an index
		"00006_retry_keys.sql":      {"retry_keys", "retry_requests"},
		"00007_json_as_written.sql": nil, // column types
		// keeps store_identity, on purpose: applied again, the step keeps
		// the store's identity
		"00008_store_identity.sql": nil,
		"00009_app_keys.sql":       {"app_keys"},
	}
	eachEmbeddedMigration(t, func(d Dialect, name, text string) {
		w, ok := want[name]
		if !ok {
			t.Errorf("%s %s: add what its Down drops to this test", d, name)
		}
		if diff := cmp.Diff(w, droppedTables(text)); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", d, name, diff)
		}
	})
}

// eachEmbeddedMigration calls f with every migration file embedded for
// each dialect.
func eachEmbeddedMigration(t *testing.T, f func(d Dialect, name, text string)) {
	t.Helper()
	for _, d := range []Dialect{Postgres, SQLite} {
		fsys, err := FS(d)
		if err != nil {
			t.Fatal(err)
		}
		names, err := fs.Glob(fsys, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			text, err := fs.ReadFile(fsys, name)
			if err != nil {
				t.Fatal(err)
			}
			f(d, name, string(text))
		}
	}
}
