package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/filelock"
)

// logSignal closes ch once a log line holding want is written.
type logSignal struct {
	want string
	once sync.Once
	ch   chan struct{}
}

func (w *logSignal) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.ch) })
	}
	return len(p), nil
}

// A process on an embedded Redis (`push send` without redis.url) holds the
// store's guard lock exclusively while it sends; its push is recorded in
// the store's ledger only, the shared Redis never sees it. A process on
// the shared Redis that takes the lock after it is alone on the store and
// must forget the shared windows (guardAlone: forgetShared), or they lack
// that push and the guard grants one push over the quota. Before
// retryLock such a process met the exclusive lock and was refused (and,
// started again, found itself alone). With it, it waits up to
// guardLockWait and the embedded sender ends meanwhile. Was: it started
// with guardAlone false, nobody forgot, and the shared windows missed the
// embedded push.
func TestASharedStartThatWaitedOutAnEmbeddedSenderForgetsTheWindows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, file := guardLockStore(t)
	// The embedded sender's lock, held for its push.
	unlock, err := filelock.TryLock(file + ".guard.lock")
	if err != nil {
		t.Fatal(err)
	}
	sig := &logSignal{want: "quota guard lock: held exclusively by another process", ch: make(chan struct{})}
	d := &deps{log: zerolog.New(sig), clock: wallClock{}, store: st}
	d.onClose("store", st.Close)
	t.Cleanup(func() { _ = d.close() })

	done := make(chan error, 1)
	go func() { done <- d.lockGuard(ctx) }() // a shared start (d.mr nil)
	select {
	case <-sig.ch:
	case err := <-done:
		t.Fatalf("lockGuard returned before waiting: %v", err)
	}
	if err := unlock(); err != nil { // the embedded sender is done
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("lockGuard after the exclusive holder left: %v", err)
	}
	if !d.guardAlone {
		t.Errorf("the shared process took the lock once the embedded sender had left, alone on the store, but guardAlone is false: " +
			"forgetShared does nothing, and the shared Redis's windows lack the embedded push (a push over the quota)")
	}
}

// A process on an embedded Redis (exclusive) that finds the store's guard
// lock held waits for it, up to guardLockWait, as a shared start does: the
// holder may be ending. Was: it was refused at once, and a `push send`
// right after another process released the lock could meet it still held
// (a flock outlives its close while a child forked meanwhile holds the
// file: the clean-clone CI run failed so on TestRenamedAppIsRefusedUntilTheStoreIsRenamed,
// a test beside it starting a server).
func TestAnEmbeddedStartWaitsForAHolderThatEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, file := guardLockStore(t)
	unlock, err := filelock.TryLockShared(file + ".guard.lock") // a process ending
	if err != nil {
		t.Fatal(err)
	}
	sig := &logSignal{want: "quota guard lock: held by another process", ch: make(chan struct{})}
	d := &deps{log: zerolog.New(sig), clock: wallClock{}, store: st, mr: miniredis.NewMiniRedis()}
	d.onClose("store", st.Close)
	t.Cleanup(func() { _ = d.close() })

	done := make(chan error, 1)
	go func() { done <- d.lockGuard(ctx) }()
	select {
	case <-sig.ch:
	case err := <-done:
		t.Fatalf("lockGuard returned before waiting: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("lockGuard after the holder left: %v", err)
	}
	if _, err := filelock.TryLockShared(file + ".guard.lock"); err == nil {
		t.Error("the embedded process's lock is not exclusive: a shared take succeeded beside it")
	}
}

// guardLockStore opens a store on a new SQLite file and returns it with
// the file's real path, beside which its guard lock lies.
func guardLockStore(t *testing.T) (*sqlstore.Store, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tagcast.db")
	st, err := sqlstore.Open(context.Background(), "sqlite://"+file)
	if err != nil {
		t.Fatal(err)
	}
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real
	}
	return st, file
}
