package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/filelock"
	"github.com/tagcast/tagcast/migrations"
)

// guardLockKey is the PostgreSQL advisory lock every process holds while
// it works for a store (an arbitrary constant: "tagcast" in ASCII, then
// "guard"); pg_locks shows it as classid guardLockKey>>32, objid the low 32
// bits.
const guardLockKey int64 = 0x74616763_67726400

const (
	// guardLockTimeout bounds taking, checking and releasing the lock: a
	// database that stops answering must not hold up a start or a stop.
	guardLockTimeout = 5 * time.Second
	// guardLockCheckEvery is how often a long-running process checks that
	// its PostgreSQL session, and so its lock, is still there.
	guardLockCheckEvery = 5 * time.Second
)

// errGuardLocked is the refusal of a process whose quota guard cannot share
// the store with those already working for it.
var errGuardLocked = errors.New("another tagcast process works for this store with a quota guard this one cannot see: " +
	"either one of them runs an embedded Redis (serve or push send without redis.url) or this one does while others run. " +
	"An embedded Redis lives inside one process, so its guard and any other would each count only their own pushes and together exceed the quota. " +
	"Stop it, or set the same redis.url everywhere so that every process shares one quota guard")

// lockGuard keeps the store's processes on one quota guard. A process
// whose guard is on an embedded Redis takes the store's guard lock
// exclusively: its windows live in it alone, so it must be the only one
// sending. A process on a shared Redis takes it shared: any number of them
// share that Redis's windows, but none may run beside an embedded one. The
// lock is a flock beside a SQLite file, or a session advisory lock on
// PostgreSQL on a connection of its own, outside the store's pool; the
// operating system or the server drops it when the process dies, kill -9
// included. An in-memory SQLite store is private to the process and needs
// none.
func (d *deps) lockGuard(ctx context.Context) error {
	if d.store == nil {
		return nil
	}
	exclusive := d.mr != nil
	switch d.store.Dialect() {
	case migrations.Postgres:
		return d.lockPostgresGuard(ctx, exclusive)
	default:
		path := d.store.SQLiteFile()
		if path == "" {
			return nil // in memory: private to this process
		}
		try := filelock.TryLockShared
		if exclusive {
			try = filelock.TryLock
		}
		unlock, err := try(path + ".guard.lock")
		if errors.Is(err, filelock.ErrLocked) {
			return errGuardLocked
		}
		if err != nil {
			return fmt.Errorf("quota guard lock: %w", err)
		}
		d.onClose("quota guard lock", unlock)
		return nil
	}
}

// lockPostgresGuard takes guardLockKey on a connection of its own (a pool
// of one beside the store's, so that the lock never takes a connection the
// store counted on), held until the process releases its dependencies. It
// sets d.guardLockCheck, which tells whether the lock is still held.
func (d *deps) lockPostgresGuard(ctx context.Context, exclusive bool) error {
	db, _, err := sqlstore.OpenDB(d.cfg.Database.URL)
	if err != nil {
		return fmt.Errorf("quota guard lock: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	tctx, cancel := context.WithTimeout(ctx, guardLockTimeout)
	defer cancel()
	conn, err := db.Conn(tctx)
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("quota guard lock: %w", err)
	}
	try := `SELECT pg_try_advisory_lock_shared($1)`
	if exclusive {
		try = `SELECT pg_try_advisory_lock($1)`
	}
	var got bool
	if err := conn.QueryRowContext(tctx, try, guardLockKey).Scan(&got); err != nil || !got {
		_, _ = conn.Close(), db.Close()
		if err != nil {
			return fmt.Errorf("quota guard lock: %w", err)
		}
		return errGuardLocked
	}
	d.guardLockCheck = func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, guardLockTimeout)
		defer cancel()
		var held bool
		err := conn.QueryRowContext(cctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND pid = pg_backend_pid() AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)`,
			guardLockKey>>32, guardLockKey&0xffffffff).Scan(&held)
		switch {
		case err != nil:
			return fmt.Errorf("quota guard lock: its PostgreSQL session is gone or not answering (another process may have taken the lock): %w", err)
		case !held:
			return errors.New("quota guard lock: no longer held by its PostgreSQL session")
		}
		return nil
	}
	d.onClose("quota guard lock", func() error {
		// Best effort and bounded: ending the session releases the lock
		// anyway, and a database that stopped answering must not hold up
		// the stop.
		uctx, cancel := context.WithTimeout(context.Background(), guardLockTimeout)
		defer cancel()
		_, err := conn.ExecContext(uctx, `SELECT pg_advisory_unlock_all()`)
		return errors.Join(ignoreDone(err), conn.Close(), db.Close())
	})
	return nil
}

// ignoreDone drops a context deadline error: the release gave up waiting,
// and closing the connection ends the session and its lock.
func ignoreDone(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// watchGuardLock checks the guard lock every guardLockCheckEvery until ctx
// ends, and returns the error that says it was lost: the process must stop
// rather than send beside a process that took the lock after it.
func watchGuardLock(ctx context.Context, check func(context.Context) error) error {
	t := time.NewTicker(guardLockCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := check(ctx); err != nil && ctx.Err() == nil {
			return err
		}
	}
}
