package migrations

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDroppedColumns guards the reading of the columns a migration's Down
// section drops, which Down's data-loss refusal counts the values of: each
// ALTER TABLE ... DROP COLUMN is found; a column marked expendable, one of
// a table dropped whole, a constraint, comments and the Up section are not.
func TestDroppedColumns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql string
		want      []TableRows
	}{
		{"no down", "-- +goose Up\nALTER TABLE a DROP COLUMN x;\n", nil},
		{"one", "-- +goose Down\nALTER TABLE campaigns DROP COLUMN idempotency_key;\n", []TableRows{{Table: "campaigns", Column: "idempotency_key"}}},
		{"quoted, if exists, no COLUMN word", "-- +goose Down\nalter table if exists only \"a\" drop if exists \"x\";\nALTER TABLE public.b DROP y CASCADE;\n",
			[]TableRows{{Table: "a", Column: "x"}, {Table: "public.b", Column: "y"}}},
		{"expendable", "-- +goose Down\n-- tagcast:expendable sends.claimed_by (a diagnostic)\nALTER TABLE sends DROP COLUMN claimed_by;\nALTER TABLE sends DROP COLUMN body;\n",
			[]TableRows{{Table: "sends", Column: "body"}}},
		{"expendable in the Up section only", "-- +goose Up\n-- tagcast:expendable sends.claimed_by\n-- +goose Down\nALTER TABLE sends DROP COLUMN claimed_by;\n",
			[]TableRows{{Table: "sends", Column: "claimed_by"}}},
		{"a table dropped whole", "-- +goose Down\nALTER TABLE a DROP COLUMN x;\nDROP TABLE a;\n", nil},
		{"constraint", "-- +goose Down\nALTER TABLE a DROP CONSTRAINT a_x_check;\n", nil},
		{"comments", "-- +goose Down\n-- ALTER TABLE a DROP COLUMN x;\nSELECT 1; -- ALTER TABLE b DROP COLUMN y\n", nil},
	} {
		if diff := cmp.Diff(tc.want, droppedColumns(tc.sql)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestEmbeddedMigrationsDroppedColumns pins which columns the embedded
// migrations' Down sections drop with their values guarded, so a new
// migration's are read as meant.
func TestEmbeddedMigrationsDroppedColumns(t *testing.T) {
	t.Parallel()
	keys := []TableRows{{Table: "campaigns", Column: "request_hash"}, {Table: "campaigns", Column: "idempotency_key"}}
	want := map[string][]TableRows{
		"00004_idempotency_key.sql": keys, // the promise of a create retried under its key
	}
	eachEmbeddedMigration(t, func(d Dialect, name, text string) {
		if diff := cmp.Diff(want[name], droppedColumns(text)); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", d, name, diff)
		}
	})
}

// TestCastColumns guards the reading of the columns whose type a
// migration's Down section changes, whose values Down's data-loss refusal
// counts (the cast rewrites them): every ALTER [COLUMN] ... TYPE of an
// ALTER TABLE statement, several per statement; not a default, a column
// marked expendable, one of a table dropped whole, comments or the Up
// section.
func TestCastColumns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql string
		want      []TableRows
	}{
		{"no down", "-- +goose Up\nALTER TABLE a ALTER COLUMN x TYPE json USING x::json;\n", nil},
		{"one", "-- +goose Down\nALTER TABLE sends ALTER COLUMN body TYPE jsonb USING body::jsonb;\n",
			[]TableRows{{Table: "sends", Column: "body", CastTo: "jsonb"}}},
		{"several in one statement, a default skipped",
			"-- +goose Down\nALTER TABLE campaigns\n    ALTER COLUMN push TYPE jsonb USING push::jsonb,\n    ALTER COLUMN vars TYPE jsonb USING vars::jsonb,\n    ALTER COLUMN vars SET DEFAULT '{}'::jsonb;\n",
			[]TableRows{{Table: "campaigns", Column: "push", CastTo: "jsonb"}, {Table: "campaigns", Column: "vars", CastTo: "jsonb"}}},
		{"quoted, only, no COLUMN word, SET DATA, a type with parentheses and spaces",
			"-- +goose Down\nalter table if exists only \"a\" alter \"x\" set data type numeric(10, 2), alter y type double precision collate \"C\";\n",
			[]TableRows{{Table: "a", Column: "x", CastTo: "numeric(10, 2)"}, {Table: "a", Column: "y", CastTo: "double precision"}}},
		{"expendable", "-- +goose Down\n-- tagcast:expendable sends.claimed_by (a diagnostic)\nALTER TABLE sends ALTER COLUMN claimed_by TYPE text;\n", nil},
		{"a table dropped whole", "-- +goose Down\nALTER TABLE a ALTER COLUMN x TYPE text;\nDROP TABLE a;\n", nil},
		{"comments, other statements", "-- +goose Down\n-- ALTER TABLE a ALTER COLUMN x TYPE text;\nSELECT 1; -- ALTER TABLE b ALTER y TYPE text\nALTER TABLE c DROP COLUMN z;\n", nil},
	} {
		if diff := cmp.Diff(tc.want, castColumns(tc.sql)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestEmbeddedMigrationsCastColumns pins which columns the embedded
// migrations' Down sections cast to another type with their values
// guarded: PostgreSQL's 00007 casts the JSON kept as written back to jsonb.
func TestEmbeddedMigrationsCastColumns(t *testing.T) {
	t.Parallel()
	want := map[Dialect]map[string][]TableRows{
		Postgres: {"00007_json_as_written.sql": {
			{Table: "sends", Column: "body", CastTo: "jsonb"},
			{Table: "campaigns", Column: "push", CastTo: "jsonb"},
			{Table: "campaigns", Column: "vars", CastTo: "jsonb"},
		}},
	}
	eachEmbeddedMigration(t, func(d Dialect, name, text string) {
		if diff := cmp.Diff(want[d][name], castColumns(text)); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", d, name, diff)
		}
	})
}
