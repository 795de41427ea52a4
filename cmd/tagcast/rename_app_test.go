package main

import (
	"os"
	"strings"
	"testing"
)

// The service counts the quota per App Key; tagcast's guard and store know
// an app by its name. An app renamed in the configuration, same App Key,
// is refused at start (its windows would start empty and hand the key's
// quota out again, found by a review of the guard) until `migrate
// rename-app` renames it in the store; then its ledger, and so its quota,
// follow it.
func TestRenamedAppIsRefusedUntilTheStoreIsRenamed(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, okPush)
	cfgFile, vars := svc.configFor(t)
	if r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "push", "send", "--app", "main", examplePushBody); r.code != 0 {
		t.Fatalf("push send as main: %s", r)
	}
	data, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	renamed := writeFile(t, "renamed.yaml", strings.Replace(string(data), "name: main", "name: marketing", 1))
	r := runTagcast(t, cliEnv{vars: vars}, "--config", renamed, "push", "send", "--app", "marketing", examplePushBody)
	if r.code != 1 || !strings.Contains(r.stderr, "tagcast migrate rename-app main marketing") || len(svc.recorded()) != 1 {
		t.Fatalf("push send with main renamed marketing: %s, %d requests; want exit 1 naming rename-app main marketing, nothing sent", r, len(svc.recorded()))
	}
	if r := runTagcast(t, cliEnv{vars: vars}, "--config", renamed, "migrate", "rename-app", "main", "bad/name"); r.code != 2 {
		t.Errorf("rename-app to a name that is no app name: %s; want exit 2", r)
	}
	r = runTagcast(t, cliEnv{vars: vars}, "--config", renamed, "migrate", "rename-app", "main", "marketing")
	if r.code != 0 || !strings.Contains(r.stdout, "app main renamed marketing") || !strings.Contains(r.stdout, "quota_ledger 1") {
		t.Fatalf("migrate rename-app main marketing: %s; want the ledger's attempt renamed", r)
	}
	if r := runTagcast(t, cliEnv{vars: vars}, "--config", renamed, "push", "send", "--app", "marketing", examplePushBody); r.code != 0 {
		t.Errorf("push send as marketing after rename-app: %s", r)
	}
	// The old configuration is refused now: the key is marketing's.
	if r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "push", "send", "--app", "main", examplePushBody); r.code != 1 ||
		!strings.Contains(r.stderr, "recorded in this store for app marketing") {
		t.Errorf("push send as main after the rename: %s; want refused", r)
	}
}
