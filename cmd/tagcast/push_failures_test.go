package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/internal/filelock"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
)

// pushConfig writes a config whose app "main" talks to svc, with the
// given database and redis URLs.
func pushConfig(t *testing.T, svc *fakeService, databaseURL, redisURL string) string {
	t.Helper()
	return writeFile(t, "tagcast.yaml", fmt.Sprintf(`apps:
  - name: main
    app_key: %s
    app_secret_env: MAIN_SECRET
    hosts: [%s]
    timeout: 5s
database: {url: %q}
redis: {url: %q}
`, svc.appKey, svc.URL, databaseURL, redisURL))
}

// config check --output json dumps the configuration with secrets and URL
// passwords redacted, also when it is invalid: a database or Redis URL
// written without a scheme (a libpq key/value DSN, a forgotten redis://)
// was printed verbatim, password included.
func TestConfigCheckJSONRedactsWhatIsNotAURL(t *testing.T) {
	t.Parallel()
	const dbPass, redisPass = "hunter2-db-pass", "s3cret-redis-pass"
	file := writeFile(t, "tagcast.yaml", `database: {url: "host=db.internal user=tagcast password=`+dbPass+` dbname=tagcast"}
redis: {url: ":`+redisPass+`@cache.internal:6379"}
`)
	r := runTagcast(t, cliEnv{}, "config", "check", "--output", "json", file)
	if r.code != 1 {
		t.Errorf("want exit 1 for an invalid config: %s", r)
	}
	assertNoSecret(t, r, dbPass, redisPass)
}

// A Redis that answers PING but refuses writes (a read-only replica, here a
// real redis-server made a replica of a master that does not exist) makes
// the guard's reservation fail: nothing reaches the service. push send says
// so (outcome retry), where it used to tell the operator, and a script
// reading --output json, that the push may have been sent.
func TestPushSendReportsAFailureBeforeTheCallAsNotSent(t *testing.T) {
	t.Parallel()
	rs := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer func() { _ = rdb.Close() }()
	if err := rdb.Do(context.Background(), "REPLICAOF", "127.0.0.1", strings.TrimPrefix(testenv.FreeAddr(t), "127.0.0.1:")).Err(); err != nil {
		t.Fatal(err)
	}

	svc := newFakeService(t, okPush)
	db := filepath.Join(t.TempDir(), "tagcast.db")
	cfg := pushConfig(t, svc, "sqlite://"+db, rs.URL())
	vars := map[string]string{"MAIN_SECRET": svc.secret}
	// Another process on the shared Redis holds the store (a worker): push
	// send is not alone, keeps the windows, and meets Redis's refusal at
	// its reservation.
	unlock, err := filelock.TryLockShared(db + ".guard.lock")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unlock() }()

	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
	if !strings.Contains(r.stderr, "READONLY") {
		t.Errorf("push send: %s; want the reservation refused by the read-only Redis", r)
	}
	if n := len(svc.recorded()); n != 0 {
		t.Fatalf("the service received %d pushes; the setup should refuse the reservation: %s", n, r)
	}
	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	if strings.Contains(r.stderr, "outcome unknown") || strings.Contains(r.stderr, "may have sent") {
		t.Errorf("nothing was sent (the quota reservation failed), but push send says it may have been:\n%s", r.stderr)
	}

	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "-o", "json", "push", "send", "--app", "main", examplePushBody)
	var report pushSendReport
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("json: %v %s", err, r)
	}
	if report.Outcome == pushapi.OutcomeUnknown {
		t.Errorf("--output json reports outcome %q (the service may have sent it) for a push that was never sent: %+v", report.Outcome, report)
	}
}

// A push whose request never left (connection refused: nothing was written)
// gives its quota slot back, as the worker does: two such failures (hourly:
// 2) used to leave the app without quota for the hour though the service
// never saw a push, and the next, working push send was refused.
func TestPushSendGivesBackTheSlotOfAnUnwrittenRequest(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, okPush)
	db := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	vars := map[string]string{"MAIN_SECRET": svc.secret}
	down := writeFile(t, "down.yaml", fmt.Sprintf(`apps:
  - name: main
    app_key: %s
    app_secret_env: MAIN_SECRET
    hosts: [http://%s]
    timeout: 5s
database: {url: %q}
`, svc.appKey, testenv.FreeAddr(t), db))
	for i := range 2 {
		r := runTagcast(t, cliEnv{vars: vars}, "--config", down, "-o", "json", "push", "send", "--app", "main", examplePushBody)
		var report pushSendReport
		if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 1 {
			t.Fatalf("push send #%d to a closed port: %v %s", i+1, err, r)
		}
		if report.Outcome != pushapi.OutcomeRetry || report.MayHaveReached {
			t.Fatalf("push send #%d: want outcome retry, not reached: %+v", i+1, report)
		}
	}
	up := pushConfig(t, svc, db, "")
	r := runTagcast(t, cliEnv{vars: vars}, "--config", up, "push", "send", "--app", "main", examplePushBody)
	if r.code != 0 || len(svc.recorded()) != 1 {
		t.Errorf("two pushes that never left the machine used up the hour's quota; the real push is refused:\n%s", r)
	}
}

// After a 429/1008 the guard blocks the app until the next window boundary
// (DESIGN.md: quota guard), and losing Redis loses no quota knowledge: the
// block is recorded in the store, so the next push send, on a fresh
// embedded Redis, is refused locally. It used to call the service again and
// meet a second 429.
func TestPushSendRemembersTheServicesBlock(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"code":1008,"errorMessage":"rate limit exceeded"}`)
	})
	cfg := pushConfig(t, svc, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"), "")
	vars := map[string]string{"MAIN_SECRET": svc.secret}

	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
	if r.code != 1 || !strings.Contains(r.stderr, "rate limited") {
		t.Fatalf("first push send: %s", r)
	}
	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
	if r.code != 1 || !strings.Contains(r.stderr, "no quota left: the app is held by the service's answer (a 429/1008 rate limit") {
		t.Errorf("second push send: %s; want it refused by the guard's block", r)
	}
	if n := len(svc.recorded()); n != 1 {
		t.Errorf("the service received %d calls; after its 429 the app is blocked until the next window boundary, "+
			"so the second push send must be refused locally:\n%s", n, r)
	}
}
