package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi/emulator"
)

// TestRunningStoreKeepsItsRedisMarkAfterAFlush: the mark
// (tagcast:store) was written only when a process started (claimRedis in
// buildCore and newAppPusher). A Redis restarted without persistence, a
// fail-over to an empty replica or a FLUSHALL (the e2e chaos does all
// three) removes it while A's processes run on, and nothing writes it
// back: the reconcile loop re-registers the asynq queue after a flush
// (serve.go reconcileLoop) but not the mark. The first process to start
// afterwards marks the database, whichever store it belongs to: here B's
// push send is accepted on A's database while A runs (the sharing the
// mark exists to refuse), and A's next restart would be the one refused.
func TestRunningStoreKeepsItsRedisMarkAfterAFlush(t *testing.T) {
	t.Parallel()
	emu, err := emulator.New(emulator.Config{Seed: 12, Apps: []emulator.AppConfig{
		{AppKey: "key-a", Secret: roleSecret}, {AppKey: "key-b", Secret: roleSecret},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	rs := testenv.Redis(t)
	cfgA, _ := deploymentOn(t, "key-a", srv.URL, rs.URL())
	cfgB, _ := deploymentOn(t, "key-b", srv.URL, rs.URL())

	a := startRole(t, "--config", cfgA, "serve")
	a.waitStarted(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	markA, err := rdb.Get(ctx, storeMarkKey).Result()
	if err != nil {
		t.Fatalf("A did not mark its Redis database: %v", err)
	}

	rs.Flush(t) // Redis loses its data while A runs

	// A running process should put its mark back, as the reconcile loop puts
	// the queue back: give it two reconcile intervals.
	deadline := time.Now().Add(2*10*time.Second + 5*time.Second)
	for time.Now().Before(deadline) {
		if v, err := rdb.Get(ctx, storeMarkKey).Result(); err == nil {
			if v != markA {
				t.Fatalf("mark %q after the flush, want A's %q", v, markA)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := rdb.Get(ctx, storeMarkKey).Result(); err != nil {
		t.Errorf("A still runs on this Redis database 25 s after a flush, and its mark is not back (%v)", err)
	}

	rb := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfgB, "push", "send", "--app", "main", examplePushBody)
	if rb.code == 0 || !strings.Contains(rb.stderr, "used by another tagcast store") {
		t.Errorf("B's push send on A's Redis database while A runs, after a flush: exit %d, %d push(es) of key-b; "+
			"want it refused as before the flush", rb.code, len(emu.PushesFor("key-b")))
	}
	if code := a.stop(t); code != 0 {
		t.Logf("A exit %d", code)
	}
}

// TestRunningProcessStopsWhenAnotherStoreTakesItsRedis: should another
// store mark the database while a process runs (in the seconds after a
// flush, before the process put its mark back), the process stops with an
// error naming the problem rather than sharing the database.
func TestRunningProcessStopsWhenAnotherStoreTakesItsRedis(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	rs := testenv.Redis(t)
	a := startRole(t, "--config", roleConfig(t, emuURL, rs.URL(), "", testenv.FreeAddr(t)), "worker")
	a.waitStarted(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Set(context.Background(), storeMarkKey, "another-store", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the worker to stop", 3*storeMarkEvery, func() bool { _, done := a.exited(); return done })
	if code, _ := a.exited(); code != 1 || !strings.Contains(a.stderr.String(), "used by another tagcast store") {
		t.Errorf("worker after another store marked its Redis database: exit %d:\n%s\nwant exit 1 naming the problem", code, a.stderr)
	}
}
