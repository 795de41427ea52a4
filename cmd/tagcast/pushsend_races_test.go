package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
)

// A `push send` on a shared Redis that starts while an embedded-Redis push
// send is ending rebuilds the shared windows from the ledger, which holds
// the embedded push. Was: it found the guard lock held exclusively at its
// probe (so it was not "alone") and the shared lock free at its first try
// (so it never "had to wait"); forgetShared did nothing, and its guard
// reserved on shared windows that lacked the embedded push (found by a
// review). Every shared start rebuilds now.
//
// Here (hourly quota 2): push 1 goes through the shared Redis, push 2
// through an embedded one (in the ledger, not in the shared windows). The
// test then holds the lock exclusively, as the ending embedded process
// does, and lets it go exactly when the shared push send's first
// pg_try_advisory_lock_shared is on its way to the server. The shared push
// send must be refused a third push in the hour.
func TestSharedPushSendAfterAnEndingEmbeddedOneCountsItsPush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testenv.Postgres(t)
	hostPort, rest, _ := strings.Cut(strings.TrimPrefix(dbURL, "postgres://postgres@"), "/")
	proxy := newDBProxy(t, hostPort)
	proxied := "postgres://postgres@" + proxy.ln.Addr().String() + "/" + rest

	svc := newFakeService(t, okPush)
	vars := map[string]string{"MAIN_SECRET": svc.secret}
	shared := pushConfig(t, svc, proxied, testenv.Redis(t).URL())
	embedded := pushConfig(t, svc, proxied, "")

	if r := runTagcast(t, cliEnv{vars: vars}, "--config", shared, "push", "send", "--app", "main", examplePushBody); r.code != 0 {
		t.Fatalf("push 1 (shared Redis): %s", r)
	}
	if r := runTagcast(t, cliEnv{vars: vars}, "--config", embedded, "push", "send", "--app", "main", examplePushBody); r.code != 0 {
		t.Fatalf("push 2 (embedded Redis): %s", r)
	}

	// The embedded process, its push recorded, still holds the lock.
	db, _, err := sqlstore.OpenDB(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, guardLockKey); err != nil {
		t.Fatal(err)
	}
	var unlockErr error
	proxy.arm("pg_try_advisory_lock_shared", func() {
		// It ends, after the shared push send's exclusive probe failed and
		// before its first try for the shared lock.
		var ok bool
		unlockErr = conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, guardLockKey).Scan(&ok)
		if unlockErr == nil && !ok {
			unlockErr = errSetup("pg_advisory_unlock: lock not held")
		}
	})

	r := runTagcast(t, cliEnv{vars: vars}, "--config", shared, "push", "send", "--app", "main", examplePushBody)
	if unlockErr != nil {
		t.Fatalf("setup: %v", unlockErr)
	}
	if n := callsTo(svc, "/push.json"); n > 2 {
		t.Errorf("the service received %d pushes within the hour, quota 2: the shared push send did not count the "+
			"embedded push recorded in the ledger (its exclusive probe failed, its shared lock came at the first try, "+
			"so it never rebuilt its windows):\n%s", n, r)
	}
}

type errSetup string

func (e errSetup) Error() string { return string(e) }

// fullDisk is a stdout that refuses every write, as a file on a full disk
// does.
type fullDisk struct{}

func (fullDisk) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// The push went out (the service answered 200 with its ids, the ledger
// keeps it as sent), but printing the ids failed: push send exits 1 and
// says the push was sent, with its messageUID. Was: only the write error
// ("tagcast: no space left on device"), which an operator or a script
// (`tagcast push send ... > out.json || retry`) reads as "not sent"; and
// under --output json the same error replaced a failed send's outcome
// advice (found by a review).
func TestPushSentButNotPrintedSaysItWasSent(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, okPush)
	cfgFile, vars := svc.configFor(t)
	var stderr bytes.Buffer
	env := environment{
		stdin:  strings.NewReader(""),
		stdout: fullDisk{},
		stderr: &stderr,
		lookupEnv: func(name string) (string, bool) {
			v, ok := vars[name]
			return v, ok
		},
		defaultConfig: filepath.Join(t.TempDir(), "tagcast.yaml"),
	}
	code := runIn(context.Background(), []string{"--config", cfgFile, "push", "send", "--app", "main", examplePushBody}, env)
	if n := callsTo(svc, "/push.json"); n != 1 {
		t.Fatalf("setup: the service received %d pushes, want 1 (exit %d, stderr %s)", n, code, stderr.String())
	}
	if code != 0 && !strings.Contains(stderr.String(), "MSG-UID-1") {
		t.Errorf("the push was sent (messageUID MSG-UID-1), but push send exits %d and its message does not say so:\n%s",
			code, stderr.String())
	}
}
