package main

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi/emulator"
)

// TestTwoStoresOnOneRedisAreRefused: two tagcast deployments (say staging
// and production) on one Redis server and database, each with its own store
// and App Key, both calling their app "main". Nothing namespaces a
// deployment's Redis keys: the guard's are tagcast:quota:{<app name>}:*,
// the asynq queue is always "tagcast" and task ids are run:<id>. A process
// that starts alone on its store rebuilds the windows from its own ledger,
// so B's one push (key-b) wiped the two pushes A (key-a) made this hour
// from the shared "main" window, and A's running worker then sent a third
// push of the hour with key-a: 429/1008 from the service. Each store now
// marks its Redis database (tagcast:store); B is refused, naming the
// problem, and A's quota holds.
func TestTwoStoresOnOneRedisAreRefused(t *testing.T) {
	t.Parallel()
	emu, err := emulator.New(emulator.Config{Seed: 11, Apps: []emulator.AppConfig{
		{AppKey: "key-a", Secret: roleSecret}, {AppKey: "key-b", Secret: roleSecret}, // 2 an hour each
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	redisURL := testenv.Redis(t).URL() // one Redis, two deployments
	cfgA, addrA := deploymentOn(t, "key-a", srv.URL, redisURL)
	cfgB, _ := deploymentOn(t, "key-b", srv.URL, redisURL)

	// A spends its hour: two pushes of key-a.
	for i := range 2 {
		if r := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfgA, "push", "send", "--app", "main", examplePushBody); r.code != 0 {
			t.Fatalf("A's push %d: %s", i+1, r)
		}
	}
	// A's long-running process (scheduler, worker, admin API on the shared Redis).
	a := startRole(t, "--config", cfgA, "serve")
	a.waitStarted(t)

	// B, another deployment on A's Redis database: refused, whatever it runs.
	rb := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfgB, "push", "send", "--app", "main", examplePushBody)
	if rb.code != 1 || !strings.Contains(rb.stderr, "this Redis database is used by another tagcast store") || len(emu.PushesFor("key-b")) != 0 {
		t.Errorf("B's push send on A's Redis database: %s; want exit 1 naming the problem, and no push", rb)
	}
	if r := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfgB, "worker"); r.code != 1 || !strings.Contains(r.stderr, "used by another tagcast store") {
		t.Errorf("B's worker on A's Redis database: %s; want exit 1 naming the problem", r)
	}

	// A fires a campaign now: A's key has no room left this hour, so its run
	// must wait for the quota.
	lifeCreateNow(t, lifeAdminClient(t, addrA), "third-of-the-hour")
	waitFor(t, "A's third push deferred by the guard, or sent", 30*time.Second, func() bool {
		return strings.Contains(a.stderr.String(), `"reason":"quota"`) ||
			len(emu.PushesFor("key-a"))+emu.Counters("key-a").RateLimited > 2
	})
	if got := emu.Counters("key-a"); len(emu.PushesFor("key-a")) > 2 || got.RateLimited > 0 {
		t.Errorf("A's App Key got a third push call within the hour (accepted %d, refused 429/1008 %d): "+
			"B's push send (exit %d) rebuilt the shared quota:{main} window from B's ledger and erased A's two pushes",
			got.Accepted, got.RateLimited, rb.code)
	}
	if code := a.stop(t); code != 0 {
		t.Logf("A exit %d", code)
	}
}

// deploymentOn writes the configuration of one deployment: app "main" with
// App Key key on the emulator at emuURL, the Redis at redisURL, a SQLite
// store of its own and an admin API on a free port (returned).
func deploymentOn(t *testing.T, key, emuURL, redisURL string) (cfgPath, addr string) {
	t.Helper()
	addr = testenv.FreeAddr(t)
	db := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	return writeFile(t, "tagcast.yaml", fmt.Sprintf(`apps:
  - name: main
    app_key: %s
    app_secret_env: MAIN_SECRET
    hosts: [%q]
    timeout: 5s
redis: {url: %q}
database: {url: %q}
admin: {addr: %q, server: "http://%s", tokens_env: ROLE_TOKENS, token_env: ROLE_TOKEN}
worker: {shutdown_timeout: 10s, inline_wait: 1s}
scheduler: {interval: 200ms}
log: {level: info, format: json}
`, key, emuURL, redisURL, db, addr, addr)), addr
}
