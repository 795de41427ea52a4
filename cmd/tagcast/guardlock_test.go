package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/internal/testenv"
)

// An embedded Redis lives inside one process, and so do the quota guard's
// windows on it: a second process sending for the same store would count
// only its own pushes, and the two together would exceed the quota. While
// `serve` runs on an embedded Redis, `push send` and a second `serve` on
// the same store are refused before anything is sent; once it stops, they
// work again (the windows are rebuilt from the ledger, serve's pushes
// included).
func TestEmbeddedGuardHasOneSenderPerStore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, dbURL string }{
		{"sqlite", "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")},
		{"postgres", testenv.Postgres(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu, emuURL := roleEmulator(t)
			cfg := roleConfig(t, emuURL, "", tc.dbURL, testenv.FreeAddr(t))
			serve := startRole(t, "--config", cfg, "serve")
			serve.waitStarted(t)

			r := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
			if r.code != 1 || !strings.Contains(r.stderr, "another tagcast process works for this store with a quota guard this one cannot see") {
				t.Fatalf("push send beside serve on an embedded Redis: want exit 1 and the refusal, got %s", r)
			}
			cfg2 := roleConfig(t, emuURL, "", tc.dbURL, testenv.FreeAddr(t))
			second := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg2, "serve")
			if second.code != 1 || !strings.Contains(second.stderr, "set the same redis.url everywhere so that every process shares one quota guard") {
				t.Fatalf("a second serve on the same store: want exit 1 and the refusal, got %s", second)
			}
			if n := len(emu.PushesFor("key-main")); n != 0 {
				t.Fatalf("the emulator received %d pushes from refused processes", n)
			}

			if code := serve.stop(t); code != 0 {
				t.Fatalf("serve exit %d:\n%s", code, serve.stderr)
			}
			r = runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
			if r.code != 0 || !strings.Contains(r.stdout, "messageUID") {
				t.Fatalf("push send once serve has stopped: %s", r)
			}
		})
	}
}

// A store that cannot be opened fails `push send` with the store's error
// (it used to panic releasing what it had built).
func TestPushSendWithAnUnreachableStore(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	cfg := roleConfig(t, emuURL, "", "postgres://tagcast:hunter2pw@"+testenv.FreeAddr(t)+"/tagcast?sslmode=disable&connect_timeout=2", testenv.FreeAddr(t))
	r := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
	if r.code != 1 || !strings.Contains(r.stderr, "tagcast: ") || strings.Contains(r.stderr, "hunter2pw") {
		t.Fatalf("want exit 1 with the store's error and no password: %s", r)
	}
}
