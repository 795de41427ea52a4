package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve and api refuse a configuration without an app or an admin token
// before they start anything: the message names the key and the rule (not
// the admin package's Go field names), and no store file is created. They
// used to start the embedded Redis and create the SQLite store first, then
// fail with "admin: 1 invalid options: [Tokens: ...] (...; apps are
// required)" even when apps were configured (found by an operator
// walkthrough).
func TestServeRefusesWithoutTokenOrAppBeforeStarting(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		file, want, notWant string
	}{
		"no token": {
			file:    "apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, data_center: beijing}\n",
			want:    "admin.tokens_env: TAGCAST_ADMIN_TOKENS holds no bearer token",
			notWant: "apps:",
		},
		"no app": {file: "log: {level: warn}\n", want: "apps: at least one app is required"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db := filepath.Join(dir, "store.db")
			file := writeFile(t, "tagcast.yaml", tc.file)
			r := runTagcast(t, cliEnv{vars: map[string]string{"MAIN_SECRET": secretValue, "TAGCAST_DATABASE_URL": "sqlite://" + db}}, "--config", file, "serve")
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("serve: exit %d, want 1 with %q:\n%s", r.code, tc.want, r)
			}
			if tc.notWant != "" && strings.Contains(r.stderr, tc.notWant) {
				t.Errorf("serve names a problem it does not have (%q):\n%s", tc.notWant, r)
			}
			if strings.Contains(r.stderr, "invalid options") || strings.Contains(r.stderr, "Tokens:") {
				t.Errorf("serve shows the admin package's option names:\n%s", r)
			}
			if _, err := os.Stat(db); err == nil {
				t.Errorf("serve created the store %s before refusing", db)
			}
		})
	}
}
