package main

import (
	"strings"
	"testing"
)

// Secrets the CLI once printed, and an override it ignored in silence.
// Found by a review; each test fails without its fix.

// A token pasted where the name of its variable belongs (admin.tokens_env)
// is hidden by the settings table and the JSON dump, but the note that says
// "serve and api refuse to start" printed the raw tokens_env: the token
// itself, in `config check` (table and JSON).
func TestConfigCheckNotesHidePastedTokensEnv(t *testing.T) {
	t.Parallel()
	const pasted = "kq7vtzp2mxc9lwr4" // lower case and unset: Settings hides it
	file := writeFile(t, "tagcast.yaml", "admin:\n  tokens_env: "+pasted+"\n")
	for _, args := range [][]string{
		{"config", "check", file},
		{"config", "check", "--output", "json", file},
	} {
		r := runTagcast(t, cliEnv{}, args...)
		if !strings.Contains(r.stdout, "[not shown") {
			t.Fatalf("%v: precondition: the settings should hide the pasted name:\n%s", args, r)
		}
		assertNoSecret(t, r, pasted)
	}
}

// A Redis password with an unencoded '/' (common in base64 secrets): the
// validation error printed by `config check` and by every role quoted the
// password's tail.
func TestRedisPasswordWithSlashIsNeverShown(t *testing.T) {
	t.Parallel()
	const tail = "S3CRETtailRedis"
	vars := map[string]string{
		"TAGCAST_REDIS_URL":    "redis://default:12/" + tail + "@cache.internal:6379/0",
		"TAGCAST_ADMIN_TOKENS": "tok",
	}
	for _, args := range [][]string{{"config", "check"}, {"worker"}, {"serve"}} {
		r := runTagcast(t, cliEnv{vars: vars}, args...)
		if r.code != 1 {
			t.Errorf("%v: want exit 1: %s", args, r)
		}
		assertNoSecret(t, r, tail)
	}
}

// The same with PostgreSQL: "postgres://bob:12/S3CRET@host/db" passed
// validation (the host was read as bob:12), and pgx named the database,
// the password's tail, in its connection error.
func TestDatabasePasswordWithSlashIsNeverShown(t *testing.T) {
	t.Parallel()
	const tail = "S3CRETtailPg"
	vars := map[string]string{
		"TAGCAST_DATABASE_URL": "postgres://bob:12/" + tail + "@127.0.0.1:1/tagcast?sslmode=disable",
	}
	for _, args := range [][]string{{"migrate", "status"}, {"config", "check"}} {
		r := runTagcast(t, cliEnv{vars: vars}, args...)
		assertNoSecret(t, r, tail)
	}
}

// `tagcast emulator --config tagcast.yaml` reads tagcast's own file but
// resolved app_secret_env itself, and its error printed a secret pasted in
// place of the variable name, which tagcast's config hides.
func TestEmulatorHidesPastedSecretEnv(t *testing.T) {
	t.Parallel()
	const pasted = "y1w2mefwwwrxa0pasted"
	file := writeFile(t, "tagcast.yaml", "apps:\n  - {name: main, app_key: k, app_secret_env: "+pasted+", data_center: beijing}\n")
	check := runTagcast(t, cliEnv{}, "config", "check", file)
	if strings.Contains(check.stdout+check.stderr, pasted) {
		t.Fatalf("precondition: config check shows the pasted value:\n%s", check)
	}
	r := runTagcast(t, cliEnv{}, "--config", file, "emulator", "--addr", "127.0.0.1:0")
	if r.code == 0 {
		t.Fatalf("want a failure: %s", r)
	}
	assertNoSecret(t, r, pasted)
}

// config.example.yaml: "a misspelt TAGCAST_ variable is not seen (check
// the effective configuration with `tagcast config check`)", and config
// check notes every TAGCAST_ variable that names no key. An app override
// more than 8 indexes past the last app, or with a leading zero, was
// neither applied, nor reported as a gap, nor noted: UnknownEnv skips every
// TAGCAST_APPS_<digits>_<app key> as "applyEnv reports a gap" (now only
// the indexes applyEnv does look at).
func TestConfigCheckNotesAppOverridesNobodyApplies(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "tagcast.yaml", "apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, data_center: beijing}\n")
	for _, name := range []string{"TAGCAST_APPS_20_APP_KEY", "TAGCAST_APPS_01_DATA_CENTER"} {
		vars := map[string]string{"MAIN_SECRET": secretValue, "TAGCAST_ADMIN_TOKENS": "t", name: "x"}
		r := runTagcast(t, cliEnv{vars: vars}, "config", "check", file)
		if r.code == 0 && !strings.Contains(r.stdout+r.stderr, name) {
			t.Errorf("%s is ignored without a word (no problem, no note):\n%s", name, r)
		}
	}
}
