package migrations_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/migrations"
)

// TestRunsCampaignIndexReplacesALeftover guards 00005 on PostgreSQL: it
// builds its index CONCURRENTLY, outside a transaction, so a build that
// failed half-way (a deadlock, a cancelled start) leaves an invalid index
// of that name behind and no version recorded. The rerun must build the
// index again, not take the leftover for it (IF NOT EXISTS would).
func TestRunsCampaignIndexReplacesALeftover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := migratedStore(t, testenv.Postgres(t))
	rollBackNewerThan(t, st.DB(), st.Dialect(), 7)
	for _, v := range []int64{7, 6, 5} {
		if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData); err != nil || len(res) != 1 || res[0].Version != v {
			t.Fatalf("down from %d = %v, %v", v, res, err)
		}
	}
	// The leftover: an index of that name over something else.
	exec(t, st, `CREATE INDEX runs_campaign ON runs (app)`)
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate over the leftover: %v", err)
	}
	var def string
	if err := st.DB().QueryRowContext(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexname = 'runs_campaign'`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(def, "(campaign_id, id)") {
		t.Errorf("runs_campaign after the rerun: %s; want it on (campaign_id, id)", def)
	}
	var valid bool
	if err := st.DB().QueryRowContext(ctx, `SELECT indisvalid FROM pg_index WHERE indexrelid = 'runs_campaign'::regclass`).Scan(&valid); err != nil || !valid {
		t.Errorf("runs_campaign valid = %v, %v", valid, err)
	}
}
