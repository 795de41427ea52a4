package main

import (
	"strings"
	"testing"
)

// TestConfigCheckListsEveryProblemAtOnce: README promises that
// `tagcast config check` "lists every problem with its path". A file with a
// badly typed value and a value that breaks a rule must get both at once,
// not one now and the other after the operator fixed the first.
func TestConfigCheckListsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "mixed.yaml", `apps:
  - name: main
    app_key: k
    app_secret_env: MAIN_SECRET
    data_center: moon
    timeout: 10
worker: {concurrency: 0}
`)
	r := runTagcast(t, cliEnv{vars: map[string]string{"MAIN_SECRET": secretValue}}, "config", "check", file)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	for _, want := range []string{
		`apps[0].timeout: must be a duration with a unit such as 10s or 1m30s, got "10"`,
		`apps[0].data_center: must be one of beijing`,
		`worker.concurrency: must be at least 1, got 0`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	assertNoSecret(t, r)
}
