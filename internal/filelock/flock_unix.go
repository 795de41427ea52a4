//go:build unix

package filelock

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// TryLock takes an exclusive, non-blocking flock on path (created if
// missing). It returns ErrLocked when the lock is held. The returned func
// releases it.
func TryLock(path string) (func() error, error) { return tryFlock(path, syscall.LOCK_EX) }

// TryLockShared takes a shared, non-blocking flock on path (created if
// missing): any number of shared holders, none while an exclusive one holds
// it (ErrLocked), and no exclusive one while they do.
func TryLockShared(path string) (func() error, error) { return tryFlock(path, syscall.LOCK_SH) }

func tryFlock(path string, how int) (func() error, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return f.Close, nil // closing the file releases the lock
}
