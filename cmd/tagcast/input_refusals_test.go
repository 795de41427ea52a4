package main

import (
	"strings"
	"testing"
)

// `config check` dumps the effective configuration even when it is invalid:
// a URL with a password written in admin.addr (where admin.server belongs)
// must be refused and shown redacted, in the problem and in the dump.
func TestConfigCheckHidesAPasswordInAdminAddr(t *testing.T) {
	t.Parallel()
	const pw = "ADDRPASS-9931"
	file := writeFile(t, "tagcast.yaml", `apps:
  - {name: main, app_key: key-main, app_secret_env: MAIN_SECRET, data_center: beijing}
admin: {addr: "http://admin:`+pw+`@0.0.0.0:8080"}
`)
	for _, out := range []string{"table", "json"} {
		r := runTagcast(t, cliEnv{vars: map[string]string{"MAIN_SECRET": secretValue}}, "config", "check", file, "--output", out)
		if r.code != 1 {
			t.Errorf("--output %s: exit %d, want 1 (admin.addr is not host:port)", out, r.code)
		}
		assertNoSecret(t, r, pw)
	}
}

// A PostgreSQL URL pgx cannot parse is refused by the config check, naming
// database.url, not left to fail in pgx with a text that names no field.
func TestMigrateBadPostgresPortNamesTheField(t *testing.T) {
	t.Parallel()
	r := runTagcast(t, cliEnv{}, "migrate", "status", "--database", "postgres://tagcast@127.0.0.1:99999/tagcast")
	if r.code != 1 || !strings.Contains(r.stderr, "database.url") {
		t.Errorf("migrate status --database with port 99999: want exit 1 and a problem at database.url (from --database); got %s", r)
	}
}

// `campaign list --limit 0` is a usage error, as the flag's rule says (1 to
// 1000), like `campaign show --runs 0`; left out, --limit means the default.
func TestCampaignListLimitZeroIsRefused(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"TAGCAST_ADMIN_TOKEN": "tok", "TAGCAST_ADMIN_SERVER": "http://127.0.0.1:1"}
	r := runTagcast(t, cliEnv{vars: vars}, "campaign", "list", "--limit", "0")
	if r.code != 2 || !strings.Contains(r.stderr, "--limit") {
		t.Errorf("campaign list --limit 0: want exit 2 naming --limit, before any call; got %s", r)
	}
}
