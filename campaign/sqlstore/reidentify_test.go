package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
)

// TestReidentify: a store's identity (read by Identity, marked in its Redis)
// is replaced by Reidentify with a fresh one, on both dialects, and the old
// one is returned.
func TestReidentify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"postgres", func(t *testing.T) string { return testenv.Postgres(t) }},
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "s.db") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := sqlstore.Open(ctx, tc.url(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			before, err := st.Identity(ctx)
			if err != nil || len(before) != 32 {
				t.Fatalf("Identity = %q, %v; want 32 hex digits", before, err)
			}
			oldID, newID, err := sqlstore.Reidentify(ctx, st.DB(), st.Dialect())
			if err != nil {
				t.Fatal(err)
			}
			after, err := st.Identity(ctx)
			if err != nil || oldID != before || newID != after || after == before || len(after) != 32 {
				t.Errorf("Reidentify = %q, %q; Identity before %q, after %q (%v)", oldID, newID, before, after, err)
			}
		})
	}
}
