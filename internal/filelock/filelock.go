// Package filelock is the advisory, whole-file lock tagcast takes beside a
// SQLite database file, where PostgreSQL would use an advisory lock: one
// process at a time sends through an embedded quota guard, or migrates the
// schema.
//
// The lock belongs to an open file, so the operating system drops it when
// the process dies, kill -9 included. Lock files are never removed:
// removing one would let two processes lock two different files.
package filelock

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLocked is TryLock's answer when another process (or another open of
// the same file in this process) holds the lock.
var ErrLocked = errors.New("lock held by another process")

// retryEvery is how often Lock tries again while the lock is held.
const retryEvery = 20 * time.Millisecond

// Lock takes the exclusive lock on path, waiting while another holder has
// it, until ctx ends. The returned func releases it.
func Lock(ctx context.Context, path string) (func() error, error) {
	t := time.NewTicker(retryEvery)
	defer t.Stop()
	for {
		unlock, err := TryLock(path)
		if !errors.Is(err, ErrLocked) {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the lock %s: %w", path, context.Cause(ctx))
		case <-t.C:
		}
	}
}
