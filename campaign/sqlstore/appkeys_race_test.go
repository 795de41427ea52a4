package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tagcast/tagcast/campaign/sqlstore"
)

// Was: two processes of one configuration starting at once (a
// deployment's replicas) both record a configured app's App Key for the
// first time. On PostgreSQL the upsert's ON CONFLICT names only app: when
// both statements passed the arbiter's pre-check before either inserted,
// the later one met the other's row in the key_hash UNIQUE index and failed
// with SQLSTATE 23505, and the process refused to start. About 2% of
// simultaneous pairs failed (P(no failure in 3000) ~ e^-60); RecordAppKeys
// now takes the table's lock first.
func TestRecordAppKeysConcurrentFirstStartsBothSucceed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dialects[0].url(t) // postgres
	a := openMigrated(t, url)
	b, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	for i := range 3000 {
		keys := map[string]string{fmt.Sprintf("app%d", i): fmt.Sprintf("key-%d", i)}
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for j, s := range []*sqlstore.Store{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); <-start; errs[j] = s.RecordAppKeys(ctx, keys) }()
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("pair %d: two processes recording the same app and App Key at once: %v; want both to succeed", i, err)
			}
		}
	}
}
