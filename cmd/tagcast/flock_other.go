//go:build !unix

package main

import "errors"

var errLockHeld = errors.New("lock held by another process")

// flockExclusive is unsupported here: a second process on the same SQLite
// file with an embedded Redis is not detected on this platform.
func flockExclusive(string) (func() error, error) { return func() error { return nil }, nil }
