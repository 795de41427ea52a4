package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tagcast/tagcast/internal/filelock"
	"github.com/tagcast/tagcast/migrations"
)

// guardLockKey is the PostgreSQL advisory lock a process holds while it
// sends through an embedded Redis (an arbitrary constant: "tagcast" in
// ASCII, then "guard").
const guardLockKey int64 = 0x74616763_67726400

// errGuardLocked is the refusal of a second process on one store with an
// embedded Redis.
var errGuardLocked = errors.New("another tagcast process (serve or push send) is sending through this store with its own embedded Redis; " +
	"an embedded Redis lives inside one process, so two such processes would each count only their own pushes and together exceed the quota. " +
	"Stop it, send through it (tagcast campaign create with schedule {now: true}), or set redis.url so that every process shares one quota guard")

// lockEmbeddedGuard makes this process the only one sending for its store
// while its quota guard is on an embedded Redis: the guard's windows live
// in this process alone. The lock is an exclusive flock beside a SQLite
// file, or a session advisory lock on PostgreSQL; the operating system or
// the server drops it when the process dies, kill -9 included. An in-memory
// SQLite store is private to the process and needs none; neither does a
// shared Redis.
func (d *deps) lockEmbeddedGuard(ctx context.Context) error {
	if d.mr == nil || d.store == nil {
		return nil
	}
	switch d.store.Dialect() {
	case migrations.Postgres:
		return d.lockPostgresGuard(ctx, d.store.DB())
	default:
		path := d.store.SQLiteFile()
		if path == "" {
			return nil // in memory: private to this process
		}
		unlock, err := filelock.TryLock(path + ".guard.lock")
		if errors.Is(err, filelock.ErrLocked) {
			return errGuardLocked
		}
		if err != nil {
			return fmt.Errorf("embedded quota guard lock: %w", err)
		}
		d.onClose("embedded quota guard lock", unlock)
		return nil
	}
}

// lockPostgresGuard takes guardLockKey on a connection of its own, held
// until the process releases its dependencies.
func (d *deps) lockPostgresGuard(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("embedded quota guard lock: %w", err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, guardLockKey).Scan(&got); err != nil {
		_ = conn.Close()
		return fmt.Errorf("embedded quota guard lock: %w", err)
	}
	if !got {
		_ = conn.Close()
		return errGuardLocked
	}
	d.onClose("embedded quota guard lock", func() error {
		_, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, guardLockKey)
		return errors.Join(err, conn.Close())
	})
	return nil
}
