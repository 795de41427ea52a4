//go:build !unix

package filelock

// TryLock is unsupported here and always succeeds: on this platform a
// second process on the same SQLite file is not detected, and concurrent
// migrations are not serialised.
func TryLock(string) (func() error, error) { return func() error { return nil }, nil }

// TryLockShared is unsupported here and always succeeds (see TryLock).
func TryLockShared(string) (func() error, error) { return func() error { return nil }, nil }
