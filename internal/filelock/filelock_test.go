//go:build unix

package filelock_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tagcast/tagcast/internal/filelock"
)

// TestTryLock guards the exclusion itself: a second holder (another
// process, or another open in this one) is refused until the first
// releases.
func TestTryLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := filelock.TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filelock.TryLock(path); !errors.Is(err, filelock.ErrLocked) {
		t.Errorf("second TryLock = %v, want ErrLocked", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock, err = filelock.TryLock(path)
	if err != nil {
		t.Fatalf("TryLock after release: %v", err)
	}
	_ = unlock()
}

// TestLockWaits guards Lock's wait: it gives up when its context ends
// while the lock is held, and gets the lock once it is released.
func TestLockWaits(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := filelock.TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := filelock.Lock(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock while held = %v, want the context's deadline", err)
	}
	got := make(chan error, 1)
	go func() {
		unlock, err := filelock.Lock(context.Background(), path)
		if err == nil {
			err = unlock()
		}
		got <- err
	}()
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Errorf("Lock after release: %v", err)
	}
}

// TestTryLockShared guards the two modes: shared holders share, and an
// exclusive one excludes them and is excluded by them.
func TestTryLockShared(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.lock")
	un1, err := filelock.TryLockShared(path)
	if err != nil {
		t.Fatal(err)
	}
	un2, err := filelock.TryLockShared(path)
	if err != nil {
		t.Fatalf("second shared holder: %v", err)
	}
	if _, err := filelock.TryLock(path); !errors.Is(err, filelock.ErrLocked) {
		t.Errorf("exclusive while shared holders hold = %v, want ErrLocked", err)
	}
	_, _ = un1(), un2()
	unEx, err := filelock.TryLock(path)
	if err != nil {
		t.Fatalf("exclusive once the shared holders left: %v", err)
	}
	if _, err := filelock.TryLockShared(path); !errors.Is(err, filelock.ErrLocked) {
		t.Errorf("shared while an exclusive holder holds = %v, want ErrLocked", err)
	}
	_ = unEx()
}
