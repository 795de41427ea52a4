//go:build !unix

package main

// flockExclusive is unsupported here: a second process on the same SQLite
// file with an embedded Redis is not detected on this platform.
func flockExclusive(string) (func() error, error) { return func() error { return nil }, nil }
