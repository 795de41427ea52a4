package main

import (
	"testing"
	"time"

	"github.com/tagcast/tagcast/internal/testenv"
)

// TestStopIsBoundedWhenTheLockCheckHangs: the database stops
// answering (a hung host, a partition the TCP peer survives; here the
// proxy holds every byte) and the watchdog's guard-lock check is on the
// wire, waiting, when SIGTERM comes. The watchdog returns at once, but its
// query still holds the lock connection; the release step's unlock
// (conn.ExecContext with guardLockTimeout) waits for that connection's
// mutex, which no context bounds, and conn.Close waits behind it: the
// release must run aside, so that the stop is bounded (it hung for as long
// as the database did).
func TestStopIsBoundedWhenTheLockCheckHangs(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	proxy, proxied := proxiedPostgres(t)
	r := startRole(t, "--config", roleConfig(t, emuURL, testenv.Redis(t).URL(), proxied, testenv.FreeAddr(t)), "worker")
	t.Cleanup(proxy.thaw) // runs before startRole's cleanup: lets a hung stop finish
	r.waitStarted(t)

	proxy.freeze()
	// An idle worker's only database query is the watchdog's check, every
	// guardLockCheckEvery: let one go out and wait on the frozen database.
	time.Sleep(guardLockCheckEvery + 2*time.Second)
	if code, done := r.exited(); done {
		t.Fatalf("worker exited (%d) during the stall:\n%s", code, r.stderr.Tail(5))
	}
	r.cancel() // SIGTERM
	const bound = 45 * time.Second
	select {
	case code := <-r.done:
		r.done <- code // for startRole's cleanup
	case <-time.After(bound):
		stuck := stacksOf("lockPostgresGuard.func", "database/sql.", "tagcast/cmd/tagcast.", "sync.")
		t.Errorf("worker still stopping %s after SIGTERM with the guard lock's check waiting on a database that stopped answering "+
			"(guardLockTimeout %s should bound the release); log tail:\n%s\nstuck in:\n%s", bound, guardLockTimeout, r.stderr.Tail(3), stuck)
	}
}
