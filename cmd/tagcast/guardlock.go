package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
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
	// guardLockRetryEvery is how often a process tries again for the lock
	// while another holds it (exclusively, for the shared lock), for at
	// most guardLockWait (within guardLockTimeout): a process on a shared
	// Redis that starts holds it so for a moment (lockFileShared,
	// lockPostgresGuard), one on an embedded Redis for its whole life, and
	// one that ends may still hold it for a moment (a flock outlives its
	// close while a child forked meanwhile holds the file, until its exec).
	guardLockRetryEvery = 25 * time.Millisecond
	guardLockWait       = 3 * time.Second
)

// retryLock calls try (a take of the lock, true once taken) until it
// succeeds, fails, or guardLockWait has passed since start: then the lock
// is another's for good (errGuardLocked). The holder may be ending: a
// process on an embedded Redis (a `push send` without redis.url), or, for
// a moment, a tagcast before session 22 starting on a shared Redis (it
// took the lock exclusively to learn whether it was alone); without the
// retry, a process starting then was refused, blaming an embedded Redis
// that was gone. A process on an embedded Redis (exclusive) retries too.
func (d *deps) retryLock(ctx context.Context, start time.Time, exclusive bool, try func() (bool, error)) error {
	logged := false
	for {
		got, err := try()
		if err != nil || got {
			return err
		}
		if time.Since(start) >= guardLockWait {
			return errGuardLocked
		}
		if !logged {
			logged = true
			msg := "quota guard lock: held exclusively by another process (one on an embedded Redis, ending or for good; or an older tagcast starting, for a moment): waiting for it"
			if exclusive {
				msg = "quota guard lock: held by another process (one ending, for a moment; or one working for the store, for good): waiting for it"
			}
			d.log.Info().Dur("up_to", guardLockWait).Msg(msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(guardLockRetryEvery):
		}
	}
}

// errGuardLocked is the refusal of a process whose quota guard cannot share
// the store with those already working for it.
var errGuardLocked = errors.New("another tagcast process works for this store with a quota guard this one cannot see: " +
	"either one of them runs an embedded Redis (serve or push send without redis.url) or this one does while others run. " +
	"An embedded Redis lives inside one process, so its guard and any other would each count only their own pushes and together exceed the quota. " +
	"Stop it, or set the same redis.url everywhere so that every process shares one quota guard")

// Processes on two different shared Redis servers both take the lock shared:
// the lock cannot tell two Redis servers apart, and every process on a store
// must be given the same redis.url (README, "Distributed").

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
//
// A process on a shared Redis sets d.guardAlone whenever it starts: an
// embedded process may have sent for the store since the shared Redis last
// saw a push, so its guard must rebuild every app's windows from the ledger
// (forgetShared). It did so only when it found itself alone (it could take
// the lock exclusively) or had to wait for the lock; but an embedded
// process that held the lock at the exclusive probe and let go before the
// shared take went unnoticed, and the guard granted a push over the quota
// (found by a review). A flock cannot tell that holder from the shared
// holders of processes already running, so every start rebuilds: what a
// Redis flush causes, and as safe.
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
		// One file under two names (a symlink) is one store: lock its
		// real path.
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
		lockPath := path + ".guard.lock"
		var unlock func() error
		var err error
		if exclusive {
			err = d.retryLock(ctx, time.Now(), true, func() (bool, error) {
				var err error
				unlock, err = filelock.TryLock(lockPath)
				if errors.Is(err, filelock.ErrLocked) {
					return false, nil
				}
				return err == nil, err
			})
			if errors.Is(err, errGuardLocked) {
				err = filelock.ErrLocked
			}
		} else {
			unlock, err = d.lockFileShared(ctx, lockPath)
		}
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

// lockFileShared takes the file lock shared (and sets d.guardAlone: see
// lockGuard).
func (d *deps) lockFileShared(ctx context.Context, path string) (func() error, error) {
	start := time.Now()
	d.guardAlone = true
	var unlock func() error
	err := d.retryLock(ctx, start, false, func() (bool, error) {
		var err error
		unlock, err = filelock.TryLockShared(path)
		if errors.Is(err, filelock.ErrLocked) {
			return false, nil
		}
		return err == nil, err
	})
	if errors.Is(err, errGuardLocked) {
		return nil, filelock.ErrLocked
	}
	return unlock, err
}

// forgetShared makes a guard on a shared Redis rebuild its windows from the
// ledger as its process starts (d.guardAlone, set by every shared start:
// lockGuard): pushes an embedded process recorded there meanwhile are then
// counted. Other processes reserving meanwhile meet what a Redis flush
// causes: a reservation the rebuild dropped is not held, and is made again;
// a rebuild of theirs under way reads the ledger again (Forget takes the
// rebuild generation too).
func (d *deps) forgetShared(ctx context.Context) error {
	if !d.guardAlone || d.guard == nil {
		return nil
	}
	if err := d.guard.Forget(ctx); err != nil {
		return fmt.Errorf("%w (nothing was sent: the guard must count what other processes sent for the store first)", err)
	}
	return nil
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
	// The server ends the session of a host that died without closing
	// its connection (and so frees the lock) within about a minute, not
	// the hours of the system's keepalive defaults. Best effort: over a
	// unix socket these settings do nothing.
	for _, set := range []string{`SET tcp_keepalives_idle = 30`, `SET tcp_keepalives_interval = 10`, `SET tcp_keepalives_count = 3`} {
		_, _ = conn.ExecContext(tctx, set)
	}
	var got bool
	if exclusive {
		err = d.retryLock(tctx, time.Now(), true, func() (bool, error) {
			err := conn.QueryRowContext(tctx, `SELECT pg_try_advisory_lock($1)`, guardLockKey).Scan(&got)
			return got, err
		})
		if errors.Is(err, errGuardLocked) {
			err = nil // got is false: refused below
		}
	} else {
		// Shared, and d.guardAlone set whatever the lock's other holders
		// (see lockGuard).
		d.guardAlone = true
		err = d.retryLock(tctx, time.Now(), false, func() (bool, error) {
			err := conn.QueryRowContext(tctx, `SELECT pg_try_advisory_lock_shared($1)`, guardLockKey).Scan(&got)
			return got, err
		})
		if errors.Is(err, errGuardLocked) {
			err = nil // got is false: refused below
		}
	}
	if err != nil || !got {
		_, _ = conn.Close(), db.Close()
		if err != nil {
			return fmt.Errorf("quota guard lock: %w", err)
		}
		return errGuardLocked
	}
	// The check is never cancelled: pgx closes a connection whose query
	// is cancelled, which would end the session and lose the very lock it
	// checks. A slow database only makes it late (the watchdog waits), and
	// a dead peer is found by the connection's TCP keepalives.
	d.guardLockCheck = func(context.Context) error {
		var held bool
		err := conn.QueryRowContext(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND pid = pg_backend_pid() AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)`,
			guardLockKey>>32, guardLockKey&0xffffffff).Scan(&held)
		switch {
		case err != nil:
			return fmt.Errorf("quota guard lock: its PostgreSQL session is gone (another process may have taken the lock): %w", err)
		case !held:
			return errors.New("quota guard lock: no longer held by its PostgreSQL session")
		}
		return nil
	}
	d.onClose("quota guard lock", func() error {
		// Best effort and bounded: ending the session releases the lock,
		// and closing the connection ends it (or the process's exit does),
		// so an unlock that fails (the session already gone, a database
		// that stopped answering, a check still waiting) changes nothing.
		// database/sql takes the connection's lock before it looks at a
		// context, so a check stuck on a database that stopped answering
		// would hold the unlock and the close for as long as it hangs:
		// they run aside, and the stop waits for them at most
		// guardLockTimeout (the process's exit then ends the session).
		released := make(chan struct{})
		go func() {
			defer close(released)
			uctx, cancel := context.WithTimeout(context.Background(), guardLockTimeout)
			defer cancel()
			_, _ = conn.ExecContext(uctx, `SELECT pg_advisory_unlock_all()`)
			_, _ = conn.Close(), db.Close()
		}()
		select {
		case <-released:
			return nil
		case <-time.After(guardLockTimeout + time.Second):
			return errors.New("the database did not answer: the lock ends with this process's session")
		}
	})
	return nil
}

// watchGuardLock checks the guard lock every guardLockCheckEvery until ctx
// ends, and returns the error that says it was lost: the process must stop
// rather than send beside a process that took the lock after it.
func watchGuardLock(ctx context.Context, check func(context.Context) error) error {
	return watchEvery(ctx, guardLockCheckEvery, check)
}

// watchEvery runs check every period until ctx ends, and returns the
// first error it returns (nil when ctx ended). A check that has not
// answered yet is waited for, not repeated or given up on, unless ctx ends.
func watchEvery(ctx context.Context, every time.Duration, check func(context.Context) error) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		done := make(chan error, 1)
		go func() { done <- check(ctx) }()
		select {
		case <-ctx.Done():
			return nil
		case err := <-done:
			if err != nil {
				return err
			}
		}
	}
}
