package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
)

// The lock keeps guards apart only while they run. A shared Redis keeps its
// windows (and their marker, 50 h) across the processes' lives: a push sent
// through another guard in between (an embedded `push send` while no
// process runs, which the lock allows) is in the ledger but not in the
// shared windows. A process on the shared Redis that starts alone on the
// store makes its guard rebuild from the ledger, so that push counts; it
// once let one push too many through.
func TestAPushSentBetweenSharedOnesIsCounted(t *testing.T) {
	t.Parallel()
	emu, emuURL := roleEmulator(t)
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	shared := roleConfig(t, emuURL, testenv.Redis(t).URL(), dbURL, testenv.FreeAddr(t))
	embedded := roleConfig(t, emuURL, "", dbURL, testenv.FreeAddr(t))
	send := func(cfg string) cliResult {
		return runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
	}
	if r := send(shared); r.code != 0 {
		t.Fatalf("first push send (shared redis): %s", r)
	}
	if r := send(embedded); r.code != 0 {
		t.Fatalf("second push send (embedded redis, nothing else running): %s", r)
	}
	third := send(shared) // the hourly quota is 2: the guard must refuse it
	if rl := emu.Counters("key-main").RateLimited; rl > 0 || len(emu.PushesFor("key-main")) > 2 {
		t.Errorf("hourly quota 2 exceeded: the shared Redis's guard still counted 1 (the embedded push send's push is only in the ledger) "+
			"and let a third push through; the service answered 429 %d times\n%s", rl, third)
	}
}

// The guard lock of a SQLite store is a flock beside the database file's
// real path: another name of the same file (a symlink, e.g. a "current"
// link an operator or a package manages) takes the same lock, so a push
// send on an embedded Redis is refused beside an embedded serve on it. The
// lock once followed the URL's text, and the two sent side by side.
func TestOneSQLiteFileUnderTwoNamesTakesOneGuardLock(t *testing.T) {
	t.Parallel()
	emu, emuURL := roleEmulator(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "tagcast.db")
	link := filepath.Join(dir, "current.db")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	serve := startRole(t, "--config", roleConfig(t, emuURL, "", "sqlite://"+file, testenv.FreeAddr(t)), "serve")
	serve.waitStarted(t)

	other := roleConfig(t, emuURL, "", "sqlite://"+link, testenv.FreeAddr(t))
	r := runTagcast(t, cliEnv{vars: roleVars}, "--config", other, "push", "send", "--app", "main", examplePushBody)
	if r.code != 0 {
		if strings.Contains(r.stderr, "another tagcast process") {
			return
		}
		t.Fatalf("push send: %s", r)
	}
	st, err := sqlstore.Open(context.Background(), "sqlite://"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	sent, err := st.SentBetween(context.Background(), "main", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Errorf("push send with its own embedded Redis on %s ran beside an embedded serve on %s, the same database file "+
		"(serve's store records %d push(es) from it, %d accepted by the service): two guards, one store",
		link, file, len(sent), len(emu.PushesFor("key-main")))
}

// A stall of the database (a checkpoint, a fail-over in progress, a network
// hiccup) is not a lost lock: the server keeps the session and its lock,
// and the watchdog waits for its check. The check once timed out after 5 s,
// pgx closed the connection to cancel it (releasing the lock itself), and
// every process of a fleet stopped at once.
func TestADatabaseStallIsNotALostGuardLock(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	proxy, proxied := proxiedPostgres(t)
	r := startRole(t, "--config", roleConfig(t, emuURL, testenv.Redis(t).URL(), proxied, testenv.FreeAddr(t)), "worker")
	t.Cleanup(proxy.thaw)
	r.waitStarted(t)

	// The watchdog finds its shared lock (its pg_locks query is right).
	time.Sleep(2*guardLockCheckEvery + time.Second)
	if code, done := r.exited(); done {
		t.Fatalf("worker exited (%d) before any stall:\n%s", code, r.stderr.Tail(5))
	}

	proxy.freeze()
	time.Sleep(guardLockCheckEvery + guardLockTimeout + time.Second)
	proxy.thaw()
	time.Sleep(2 * time.Second)
	if code, done := r.exited(); done {
		t.Errorf("a worker on a shared Redis exited %d after an %s database stall (the server never ended its session); log tail:\n%s",
			code, guardLockCheckEvery+guardLockTimeout+time.Second, r.stderr.Tail(3))
	}
}

// A SIGTERM that lands while the watchdog's check is on the wire ends in a
// graceful stop, exit 0: closing the lock's connection is what releases the
// lock, whatever the unlock says. It once cancelled the query, left the
// connection bad, and the release's error made the stop exit 1. Here the
// database answers every query, in 3 s.
func TestAStopDuringTheLockCheckExitsZero(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	proxy, proxied := proxiedPostgres(t)
	r := startRole(t, "--config", roleConfig(t, emuURL, testenv.Redis(t).URL(), proxied, testenv.FreeAddr(t)), "worker")
	r.waitStarted(t)

	proxy.setDelay(3 * time.Second)
	select {
	case <-proxy.sent: // the watchdog's check (an idle worker makes no other query)
	case <-time.After(3 * guardLockCheckEvery):
		t.Fatal("no lock check within 15 s")
	}
	time.Sleep(200 * time.Millisecond)
	if code := r.stop(t); code != 0 {
		t.Errorf("graceful stop with a slow (answering) database: exit %d; log tail:\n%s", code, r.stderr.Tail(3))
	}
}
