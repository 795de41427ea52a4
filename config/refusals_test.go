package config

import (
	"strings"
	"testing"
)

// Configurations that once passed validation in silence or printed part of
// a secret. Found by a review; each test fails without its fix.

// A Redis password that holds an unencoded '/' (base64 secrets often do:
// `openssl rand -base64 24`) makes url.Parse read the rest of the password
// as the path, and redisDB quoted that path in its error: Validate, and so
// `config check` and every role's start, printed the password's tail.
func TestRedisURLErrorsNeverQuoteAPasswordWithSlash(t *testing.T) {
	t.Parallel()
	const tail = "S3CRETtail"
	for _, raw := range []string{
		"redis://default:12/" + tail + "@cache:6379/0",
		"rediss://u:9/" + tail + "@cache:6380",
		"redis-sentinel://u:12/" + tail + "@h1,h2?master=mymaster",
	} {
		_, err := ParseRedisURL(raw)
		if err != nil && strings.Contains(err.Error(), tail) {
			t.Errorf("ParseRedisURL(%s): error quotes the password: %v", RedactURL(raw), err)
		}
		cfg := Default()
		cfg.Redis.URL = raw
		if verr := cfg.Validate(); verr != nil && strings.Contains(verr.Error(), tail) {
			t.Errorf("Validate(%s): error quotes the password: %v", RedactURL(raw), verr)
		}
	}
}

// A password with an unencoded '#' or '?' whose text before it is digits
// makes "user:12" parse as host:port: Validate accepted the URL, config check
// shows it (redacted) as pointing at cache:6379, but the process connects
// to host "u" port 12 without the password.
func TestRedisURLWithUnencodedHashInPasswordIsRefused(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"redis://u:12#S3CRET@cache:6379/0",
		"redis://u:12?S3CRET@cache:6379/0",
	} {
		cfg := Default()
		cfg.Redis.URL = raw
		verr := cfg.Validate()
		tgt, err := ParseRedisURL(raw)
		if verr == nil && err == nil && tgt.Addrs[0] != "cache:6379" {
			t.Errorf("%s: accepted as valid; shown as %q but connects to %v with no password",
				"redis.url", RedactURL(raw), tgt.Addrs)
		}
	}
}

// Same with PostgreSQL: "postgres://bob:12/S3CRET@db/tagcast" validates, the
// host becomes "bob" port 12, and the password's tail becomes the database
// name (which pgx prints in every connection error: see
// cmd/tagcast TestDatabasePasswordWithSlashIsNeverShown).
func TestDatabaseURLWithUnencodedSlashInPasswordIsRefused(t *testing.T) {
	t.Parallel()
	cfg := Default()
	cfg.Database.URL = "postgres://bob:12/S3CRETtail@db.example.com:5432/tagcast"
	if err := cfg.Validate(); err == nil {
		t.Errorf("database.url with an unencoded '/' in the password is accepted: its host is read as %q and the password tail as the database name",
			"bob:12")
	}
}

// Query parameters ParseRedisURL does not know are dropped without a word (now refused by name):
// a misspelt sentinel_password (or a password given as ?password=) is
// accepted, and the process then fails to authenticate, or worse connects
// without the intended setting.
func TestRedisURLUnknownQueryParameterIsRefused(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"redis-sentinel://h1,h2?master=mymaster&sentinel_pasword=x",
		"redis://cache:6379/0?password=x",
		"rediss://cache:6380?tls_insecure=true",
	} {
		cfg := Default()
		cfg.Redis.URL = raw
		if err := cfg.Validate(); err == nil {
			t.Errorf("redis.url %q: unknown query parameter accepted in silence", RedactURL(raw))
		}
	}
}

// A YAML file with a second document: everything after "---" was ignored
// in silence, even keys that do not exist and values that break rules.
func TestSecondYAMLDocumentIsRefused(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, `apps: []
---
worker: {concurrency: 0}
bogus: 1
`, env{}, nil)
	if err == nil && cfg.Validate() == nil {
		t.Errorf("a second YAML document (with an unknown key and worker.concurrency 0) is ignored without a problem; worker.concurrency = %d", cfg.Worker.Concurrency)
	}
}

// Validate checked worker.lease against each app's timeout (a claimed send
// must outlast a whole push call) but not worker.attempt_budget, the task
// time that must be left to start a send: with an app timeout above the
// budget, a call started with just over the budget left is cut by the run
// task's deadline mid-request, and the send ends `unknown` (never re-sent
// automatically). An app's timeout bounds its whole call, fail-over hop
// included, so the budget must only exceed it (a first version of this rule
// asked for twice the timeout and refused valid configurations).
func TestAttemptBudgetCoversEachAppTimeout(t *testing.T) {
	t.Parallel()
	// The default budget, 20 s, takes BeforeCall (5 s) and a timeout of up
	// to 15 s.
	for timeout, ok := range map[string]bool{"60s": false, "16s": false, "15s": true, "10s": true} {
		cfg := mustLoad(t, "apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, data_center: beijing, timeout: "+timeout+"}\nworker: {lease: 5m}\n",
			env{"MAIN_SECRET": "s"}, nil)
		if err := cfg.Validate(); (err == nil) != ok {
			t.Errorf("apps[0].timeout %s with the default attempt_budget 20s: Validate = %v, want ok %v", timeout, err, ok)
		}
	}
}

// The refusals above keep what is right: a percent-encoded password, an '@'
// percent-encoded (%40) in a sentinel_password value or in a PostgreSQL
// query value, and a file ending with a bare "---".
func TestURLsAndFilesTheRefusalsKeep(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"redis://default:12%2FS3CRET%23x%3Fy@cache:6379/0",
		"redis-sentinel://u:p@h1,h2/1?master=mymaster&sentinel_password=a%40b",
		"rediss://cache:6380?db=2",
	} {
		tgt, err := ParseRedisURL(raw)
		if err != nil {
			t.Errorf("ParseRedisURL(%s) = %v, want it accepted", RedactURL(raw), err)
			continue
		}
		if h, _, _ := strings.Cut(tgt.Addrs[0], ":"); h != "cache" && h != "h1" {
			t.Errorf("ParseRedisURL(%s): host %s", RedactURL(raw), tgt.Addrs[0])
		}
	}
	cfg := Default()
	cfg.Database.URL = "postgres://app:pa%2Fss@db.example.com:5432/tagcast?user=app%40server&sslmode=require"
	if err := cfg.Validate(); err != nil {
		t.Errorf("a percent-encoded PostgreSQL URL with an '@' in a query value is refused: %v", err)
	}
	cfg.Database.URL = "postgres://db.example.com:5432/tagcast?user=app%40server&sslmode=require"
	if err := cfg.Validate(); err != nil {
		t.Errorf("an Azure-style ?user=name%%40server without user info is refused: %v", err)
	}
	if _, err := load(t, "worker: {concurrency: 7}\n---\n", env{}, nil); err != nil {
		t.Errorf("a trailing \"---\" is refused: %v", err)
	}
}

// A claim's lease, counted from the slot's reservation, must outlast the
// way to the call (config.BeforeCall), the call (its timeout covers the
// fail-over hop too) and the recording of the answer (up to
// worker.store_timeout): with less, the reconciler could settle a send as
// unknown while its 200 is still being recorded. The rule used to be
// lease > timeout alone; a 60 s timeout with the default 2 min lease stays
// valid.
func TestLeaseCoversTheCallAndTheRecord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		timeout, lease string
		ok             bool
	}{{"10s", "30s", false}, {"10s", "31s", true}, {"60s", "2m", true}, {"60s", "80s", false}} {
		cfg := mustLoad(t, "apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, data_center: beijing, timeout: "+tc.timeout+"}\nworker: {lease: "+tc.lease+", store_timeout: 15s, attempt_budget: 65s, shutdown_timeout: 65s}\n",
			env{"MAIN_SECRET": "s"}, nil)
		err := cfg.Validate()
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "worker.lease: must be longer than 5s before the call, apps[0].timeout")) {
			t.Errorf("worker.lease %s with timeout %s and store_timeout 15s: Validate = %v, want ok %v", tc.lease, tc.timeout, err, tc.ok)
		}
	}
}
