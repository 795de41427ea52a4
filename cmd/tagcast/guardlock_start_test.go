package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/filelock"
	"github.com/tagcast/tagcast/internal/testenv"
)

// A process on a shared Redis that starts takes the guard lock exclusively
// for a moment, to learn whether it is alone on the store, then shared.
// Another one starting together (the replicas of a deployment, a fleet
// restarting after a database fail-over) found the lock held exclusively
// in that moment and was refused, blaming an embedded Redis that ran
// nowhere. It now waits for the shared lock (up to guardLockWait): here
// the test holds the lock exclusively as such a probe does, lets go once
// the worker says it waits, and the worker starts.
func TestASharedStartWaitsOutAnotherStartsProbe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		dbURL string
		probe func(t *testing.T, dbURL string) (release func())
	}{
		{"sqlite", "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db"), func(t *testing.T, dbURL string) func() {
			unlock, err := filelock.TryLock(strings.TrimPrefix(dbURL, "sqlite://") + ".guard.lock")
			if err != nil {
				t.Fatal(err)
			}
			return func() { _ = unlock() }
		}},
		{"postgres", testenv.Postgres(t), func(t *testing.T, dbURL string) func() {
			db, _, err := sqlstore.OpenDB(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got bool
			if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, guardLockKey).Scan(&got); err != nil || !got {
				t.Fatalf("probe: %v %v", got, err)
			}
			return func() { _, _ = conn.Close(), db.Close() }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, emuURL := roleEmulator(t)
			release := tc.probe(t, tc.dbURL)
			w := startRole(t, "--config", roleConfig(t, emuURL, testenv.Redis(t).URL(), tc.dbURL, testenv.FreeAddr(t)), "worker")
			waitFor(t, "the worker waiting for the guard lock", 30*time.Second, func() bool {
				_, done := w.exited()
				return done || strings.Contains(w.stderr.String(), "quota guard lock: held exclusively by another process")
			})
			release()
			waitFor(t, "the worker started or refused", 30*time.Second, func() bool {
				_, done := w.exited()
				return done || strings.Contains(w.stderr.String(), `"message":"tagcast started"`)
			})
			if code, done := w.exited(); done {
				t.Fatalf("a worker on a shared Redis, starting while another start held the lock for a moment, exited %d:\n%s", code, w.stderr.Tail(5))
			}
			if code := w.stop(t); code != 0 {
				t.Errorf("worker exit %d", code)
			}
		})
	}
}
