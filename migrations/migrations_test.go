package migrations_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/migrations"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestUpDownUp runs every migration up, all the way down and up again on
// both databases, as CI must.
func TestUpDownUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"postgres", func(t *testing.T) string { return testenv.Postgres(t) }},
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "m.db") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, dialect, err := sqlstore.OpenDB(tc.url(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })

			newest := newestVersion(t)
			// all is newest times b: every embedded migration applied (or
			// not).
			all := func(b bool) []bool {
				out := make([]bool, newest)
				for i := range out {
					out[i] = b
				}
				return out
			}
			applied := func() []bool {
				t.Helper()
				st, err := migrations.Status(ctx, db, dialect)
				if err != nil {
					t.Fatalf("status: %v", err)
				}
				var out []bool
				for _, s := range st {
					out = append(out, s.Applied)
				}
				return out
			}
			tables := func() int {
				t.Helper()
				var n int
				q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('campaigns', 'runs', 'sends', 'quota_ledger', 'quota_blocks', 'retry_keys', 'retry_requests')`
				if dialect == migrations.Postgres {
					q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('campaigns', 'runs', 'sends', 'quota_ledger', 'quota_blocks', 'retry_keys', 'retry_requests')`
				}
				if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}

			hasColumn := func(table, column string) bool {
				t.Helper()
				q := `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`
				if dialect == migrations.Postgres {
					q = `SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 AND column_name = $2`
				}
				var n int
				if err := db.QueryRowContext(ctx, q, table, column).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n == 1
			}
			// hasStoreIdentity: 00008's table, which its Down keeps.
			hasStoreIdentity := func() bool {
				t.Helper()
				q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'store_identity'`
				if dialect == migrations.Postgres {
					q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'store_identity'`
				}
				var n int
				if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n == 1
			}
			hasClaimedBy := func() bool { t.Helper(); return hasColumn("sends", "claimed_by") }
			hasIndex := func(name string) bool {
				t.Helper()
				q := `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?`
				if dialect == migrations.Postgres {
					q = `SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname = $1`
				}
				var n int
				if err := db.QueryRowContext(ctx, q, name).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n == 1
			}
			// hasIdempotencyKey: both of 00004's columns and its unique index.
			hasIdempotencyKey := func() bool {
				t.Helper()
				idx := hasIndex("campaigns_idempotency_key")
				key, hash := hasColumn("campaigns", "idempotency_key"), hasColumn("campaigns", "request_hash")
				if key != hash || key != idx {
					t.Errorf("00004 half applied: idempotency_key %v, request_hash %v, index %v", key, hash, idx)
				}
				return key && hash && idx
			}
			hasRunsCampaign := func() bool { t.Helper(); return hasIndex("runs_campaign") } // 00005
			// bodyTypes: the types of campaigns.push and vars and
			// sends.body on PostgreSQL (00007: json, before it jsonb);
			// SQLite's are TEXT throughout.
			bodyTypes := func() string {
				t.Helper()
				if dialect != migrations.Postgres {
					return "text"
				}
				var types string
				if err := db.QueryRowContext(ctx, `SELECT string_agg(data_type, ',' ORDER BY table_name, column_name) FROM information_schema.columns
					WHERE table_schema = 'public' AND (table_name, column_name) IN (('campaigns', 'push'), ('campaigns', 'vars'), ('sends', 'body'))`).Scan(&types); err != nil {
					t.Fatal(err)
				}
				return types
			}
			wantBodies := func(pg string) string {
				if dialect != migrations.Postgres {
					return "text"
				}
				return pg
			}

			if diff := cmp.Diff(all(false), applied()); diff != "" {
				t.Fatalf("fresh database (-want +got):\n%s", diff)
			}
			for round := range 2 {
				res, err := migrations.Up(ctx, db, dialect)
				if err != nil {
					t.Fatalf("up (round %d): %v", round, err)
				}
				ok := int64(len(res)) == newest
				for i, r := range res {
					ok = ok && r.Version == int64(i+1)
				}
				if !ok {
					t.Errorf("up applied %+v; want 1 to %d in order", res, newest)
				}
				if got := bodyTypes(); got != wantBodies("json,json,json") {
					t.Errorf("after up: push, vars and body of type %s; want json (kept as written)", got)
				}
				if got := tables(); got != 7 || !hasClaimedBy() || !hasIdempotencyKey() || !hasRunsCampaign() || !hasStoreIdentity() {
					t.Errorf("after up: %d of 7 tables, sends.claimed_by %v, campaigns.idempotency_key %v, runs_campaign %v, store_identity %v",
						got, hasClaimedBy(), hasIdempotencyKey(), hasRunsCampaign(), hasStoreIdentity())
				}
				if diff := cmp.Diff(all(true), applied()); diff != "" {
					t.Errorf("after up (-want +got):\n%s", diff)
				}
				if res, err := migrations.Up(ctx, db, dialect); err != nil || len(res) != 0 {
					t.Errorf("second up = %v, %v; want nothing to do", res, err)
				}
				if round == 1 {
					break
				}
				// Down goes back one version at a time. The steps after
				// 00007 drop nothing: 00008 keeps store_identity.
				rollBackNewerThan(t, db, dialect, 7)
				if got := tables(); got != 7 || !hasStoreIdentity() || bodyTypes() != wantBodies("json,json,json") {
					t.Errorf("after rolling back the steps after 00007: %d of 7 tables, store_identity %v, push, vars and body of type %s; want every table kept, json",
						got, hasStoreIdentity(), bodyTypes())
				}
				if _, err := migrations.Down(ctx, db, dialect, migrations.KeepData); err != nil {
					t.Fatalf("down: %v", err)
				}
				if got := bodyTypes(); got != wantBodies("jsonb,jsonb,jsonb") || tables() != 7 {
					t.Errorf("after one down: push, vars and body of type %s, %d of 7 tables; want jsonb, every table kept", got, tables())
				}
				if _, err := migrations.Down(ctx, db, dialect, migrations.KeepData); err != nil {
					t.Fatalf("down: %v", err)
				}
				if got := tables(); got != 5 || !hasRunsCampaign() {
					t.Errorf("after one down: %d of 5 tables, runs_campaign %v; want retry_keys and retry_requests gone, the rest kept", got, hasRunsCampaign())
				}
				if _, err := migrations.Down(ctx, db, dialect, migrations.KeepData); err != nil {
					t.Fatalf("down: %v", err)
				}
				if got := tables(); got != 5 || hasRunsCampaign() || !hasIdempotencyKey() {
					t.Errorf("after one down: %d of 5 tables, runs_campaign %v; want the index gone, the rest kept", got, hasRunsCampaign())
				}
				if _, err := migrations.Down(ctx, db, dialect, migrations.KeepData); err != nil {
					t.Fatalf("down: %v", err)
				}
				if got := tables(); got != 5 || hasIdempotencyKey() {
					t.Errorf("after one down: %d of 5 tables, campaigns.idempotency_key %v; want the columns and index gone", got, hasIdempotencyKey())
				}
				if _, err := migrations.Down(ctx, db, dialect, migrations.KeepData); err != nil {
					t.Fatalf("down: %v", err)
				}
				if got := tables(); got != 4 || !hasClaimedBy() {
					t.Errorf("after one down: %d of 4 tables, sends.claimed_by %v; want quota_blocks gone", got, hasClaimedBy())
				}
				if _, err := migrations.Down(ctx, db, dialect, migrations.KeepData); err != nil {
					t.Fatalf("down: %v", err)
				}
				if got := tables(); got != 4 || hasClaimedBy() {
					t.Errorf("after one down: %d of 4 tables, sends.claimed_by %v; want the column gone", got, hasClaimedBy())
				}
				if _, err := migrations.Down(ctx, db, dialect, migrations.KeepData); err != nil {
					t.Fatalf("down: %v", err)
				}
				if got := tables(); got != 0 {
					t.Errorf("after down: %d tables left", got)
				}
				if diff := cmp.Diff(all(false), applied()); diff != "" {
					t.Errorf("after down (-want +got):\n%s", diff)
				}
			}
			if _, err := migrations.Reset(ctx, db, dialect); err != nil {
				t.Fatalf("reset: %v", err)
			}
			if got := tables(); got != 0 {
				t.Errorf("after reset: %d tables left", got)
			}
		})
	}
}

func TestUnknownDialect(t *testing.T) {
	t.Parallel()
	if _, err := migrations.FS("mysql"); err == nil {
		t.Error("FS(mysql) succeeded")
	}
}
