package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
)

// TestReidentifiedCopyIsRefusedOnItsOriginsRedis: the store identity is a
// row of the store (00008_store_identity.sql), so every copy carries it: a
// staging database restored from production's backup (a pg_dump, a copied
// SQLite file) names itself production, and its processes pointed at
// production's Redis database would pass claimRedis. `tagcast migrate
// reidentify`, run on the copy before its first start, gives it an identity
// of its own: then it is refused there.
func TestReidentifiedCopyIsRefusedOnItsOriginsRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	prodPath := filepath.Join(dir, "production.db")
	st, err := sqlstore.Open(ctx, "sqlite://"+prodPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil { // checkpoints the WAL into the file
		t.Fatal(err)
	}
	// Staging, made from production's backup.
	stagingPath := filepath.Join(dir, "staging.db")
	data, err := os.ReadFile(prodPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stagingPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	open := func(path string) *sqlstore.Store {
		s, err := sqlstore.Open(ctx, "sqlite://"+path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	r := runTagcast(t, cliEnv{vars: map[string]string{"TAGCAST_DATABASE_URL": "sqlite://" + stagingPath}}, "migrate", "reidentify")
	if r.code != 0 || !strings.Contains(r.stdout, "store identity ") || !strings.Contains(r.stdout, " replaced by ") {
		t.Fatalf("migrate reidentify on the copy: %s", r)
	}
	prod, staging := open(prodPath), open(stagingPath)
	pid, _ := prod.Identity(ctx)
	sid, _ := staging.Identity(ctx)
	if pid == sid || !strings.Contains(r.stdout, pid+" replaced by "+sid) {
		t.Errorf("after reidentify: production %q, the copy %q; output %q", pid, sid, r.stdout)
	}

	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })

	if err := (&deps{rdb: rdb, store: prod}).claimRedis(ctx); err != nil {
		t.Fatalf("production marks its own Redis database: %v", err)
	}
	err = (&deps{rdb: rdb, store: staging}).claimRedis(ctx)
	if !errors.Is(err, errRedisOfAnotherStore) {
		t.Errorf("staging (a reidentified copy of production's store) on production's Redis database: claimRedis = %v; want errRedisOfAnotherStore", err)
	}
	// Only a store that has an identity can be given another.
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runTagcast(t, cliEnv{vars: map[string]string{"TAGCAST_DATABASE_URL": "sqlite://" + empty}}, "migrate", "reidentify"); r.code != 1 ||
		!strings.Contains(r.stderr, "migrate up") {
		t.Errorf("migrate reidentify on an unmigrated store: %s; want exit 1 telling to migrate up first", r)
	}
}
