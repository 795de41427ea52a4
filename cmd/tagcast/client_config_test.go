package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminClientsNeedNoAppSecret guards the operator who holds the admin
// token alone (found by an operator walkthrough): with the team's
// configuration file, which names the apps' secret variables, `campaign`,
// `quota` and `migrate` failed with "apps[0].app_secret_env: environment
// variable TAGCAST_MAIN_SECRET is not set", though they never call the push
// service, pushing operators to copy the App Secret to their machines. They
// now run; `push send` and `tags`, which call the service, still require it,
// and a setting that is wrong in itself is still refused.
func TestAdminClientsNeedNoAppSecret(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	teamConfig := func(secretEnv string) string {
		return writeFile(t, "tagcast.yaml", fmt.Sprintf(`admin:
  server: %s
  token_env: CLI_ADMIN_TOKEN
database:
  url: sqlite://%s
apps:
  - name: main
    app_key: key-main
    app_secret_env: %s
    hosts: [http://127.0.0.1:1]
`, a.url, filepath.Join(t.TempDir(), "tagcast.db"), secretEnv))
	}
	cfg := teamConfig("TEAM_MAIN_SECRET")
	tagcast := func(args ...string) cliResult {
		t.Helper()
		return runTagcast(t, cliEnv{vars: a.vars}, append([]string{"--config", cfg}, args...)...)
	}
	for _, args := range [][]string{
		{"campaign", "list"},
		{"quota", "status", "--app", "main"},
		{"migrate", "up"},
		{"migrate", "status"},
	} {
		if r := tagcast(args...); r.code != 0 || strings.Contains(r.stderr, "TEAM_MAIN_SECRET") {
			t.Errorf("%s with the app's secret variable unset: %s; want it to run (it never calls the push service)", strings.Join(args, " "), r)
		}
	}
	for _, args := range [][]string{
		{"push", "send", "--app", "main", writeFile(t, "push.json", `{}`)},
		{"tags", "get", "--app", "main", "user1"},
	} {
		if r := tagcast(args...); r.code != 1 || !strings.Contains(r.stderr, "apps[0].app_secret_env: environment variable TEAM_MAIN_SECRET is not set") {
			t.Errorf("%s with the app's secret variable unset: %s; want exit 1 naming the variable", strings.Join(args, " "), r)
		}
	}
	cfg = teamConfig("not a name")
	if r := tagcast("campaign", "list"); r.code != 1 || !strings.Contains(r.stderr, "apps[0].app_secret_env") {
		t.Errorf("campaign list with an invalid app_secret_env: %s; want the setting refused", r)
	}
}
