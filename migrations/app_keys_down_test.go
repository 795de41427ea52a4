package migrations_test

import (
	"context"
	"testing"

	"github.com/tagcast/tagcast/migrations"
)

// 00009's table of App Keys is marked expendable: rolling it back for an
// older tagcast (which never reads it) needs no --force, whatever it holds;
// the next start of this tagcast records the keys again. A table not so
// marked is still refused while it holds rows (TestDownRefusesDataLoss
// and friends).
func TestAppKeysRollBackWithoutForce(t *testing.T) {
	t.Parallel()
	for _, tc := range bothDialects {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migratedStore(t, tc.url(t))
			if err := st.RecordAppKeys(ctx, map[string]string{"main": "key-1"}); err != nil {
				t.Fatal(err)
			}
			res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData)
			if err != nil || len(res) != 1 || res[0].Version != 9 {
				t.Fatalf("down from 9 with app_keys holding a row = %v, %v; want 00009 rolled back without --force", res, err)
			}
			if _, err := migrations.Up(ctx, st.DB(), st.Dialect()); err != nil {
				t.Fatal(err)
			}
			if err := st.RecordAppKeys(ctx, map[string]string{"main": "key-1"}); err != nil {
				t.Errorf("record after 00009 applied again: %v", err)
			}
		})
	}
}
