package migrations_test

import (
	"context"
	"testing"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/migrations"
)

// storeIdentityStep is 00008_store_identity.sql's version.
const storeIdentityStep = 8

// storeIdentity is the one id store_identity holds; it fails the test
// unless the table holds exactly one row, with a non-empty id.
func storeIdentity(t *testing.T, st *sqlstore.Store) string {
	t.Helper()
	rows, err := st.DB().QueryContext(context.Background(), `SELECT id FROM store_identity`)
	if err != nil {
		t.Fatalf("read store_identity: %v", err)
	}
	defer func() { _ = rows.Close() }()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] == "" {
		t.Fatalf("store_identity holds %q; want exactly one non-empty id", ids)
	}
	return ids[0]
}

// TestStoreIdentityKeptAcrossDownAndUp guards 00008: after Up a store has
// exactly one non-empty identity; rolling 00008 back (Down with KeepData:
// it drops nothing, so it is not refused) and applying it again keeps that
// identity, so the store still matches the mark a process left in its
// Redis; and two stores made separately draw different identities.
func TestStoreIdentityKeptAcrossDownAndUp(t *testing.T) {
	t.Parallel()
	for _, tc := range bothDialects {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migratedStore(t, tc.url(t))
			id := storeIdentity(t, st)

			rollBackNewerThan(t, st.DB(), st.Dialect(), storeIdentityStep)
			res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData)
			if err != nil || len(res) != 1 || res[0].Version != storeIdentityStep {
				t.Fatalf("Down(KeepData) from %d = %v, %v; want 00008 rolled back, not refused", storeIdentityStep, res, err)
			}
			if got := storeIdentity(t, st); got != id {
				t.Errorf("after rolling back 00008: identity %q, want %q kept", got, id)
			}
			res, err = migrations.Up(ctx, st.DB(), st.Dialect())
			if err != nil || int64(len(res)) != newestVersion(t)-storeIdentityStep+1 || res[0].Version != storeIdentityStep {
				t.Fatalf("Up after rolling back 00008 = %v, %v; want 00008 applied again, then the steps after it", res, err)
			}
			if got := storeIdentity(t, st); got != id {
				t.Errorf("after rolling back 00008 and applying it again: identity %q, want %q: "+
					"every process would refuse the store's Redis, marked with the old one", got, id)
			}

			other := migratedStore(t, tc.url(t))
			if otherID := storeIdentity(t, other); otherID == id {
				t.Errorf("two stores made separately share the identity %q: two stores on one Redis would go unnoticed", id)
			}
		})
	}
}
