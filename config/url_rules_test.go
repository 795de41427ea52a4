package config

import (
	"errors"
	"strings"
	"testing"
)

// oneApp is one valid app, its secret in S.
const oneApp = "apps:\n  - {name: main, app_key: k1, app_secret_env: S, data_center: beijing}\n"

// problemAt loads yamlText and validates it, and reports whether some
// problem is at path (and its rule, for the failure message).
func problemAt(t *testing.T, yamlText, path string) (bool, string) {
	t.Helper()
	cfg, err := load(t, yamlText, env{"S": "app-secret"}, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	verr := cfg.Validate()
	if verr == nil {
		return false, "Validate: nil"
	}
	var ve *ValidationError
	if !errors.As(verr, &ve) {
		t.Fatalf("Validate: %v, not a *ValidationError", verr)
	}
	for _, p := range ve.Problems {
		if p.Path == path {
			return true, p.Rule
		}
	}
	return false, verr.Error()
}

// A port outside 1..65535 in admin.server or an app's hosts is refused at
// the check: accepted, every call failed at run time ("invalid port"), the
// worker retrying and failing every send.
func TestHTTPURLPortOutOfRangeIsRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ yaml, path string }{
		{oneApp + "admin: {server: 'http://127.0.0.1:99999'}\n", "admin.server"},
		{"apps:\n  - {name: main, app_key: k1, app_secret_env: S, hosts: ['http://127.0.0.1:99999']}\n", "apps[0].hosts[0]"},
		{"apps:\n  - {name: main, app_key: k1, app_secret_env: S, hosts: ['http://127.0.0.1:0']}\n", "apps[0].hosts[0]"},
	} {
		if ok, got := problemAt(t, c.yaml, c.path); !ok || !strings.Contains(got, "port") {
			t.Errorf("%s with a port out of 1..65535: no problem naming the port at %s; got: %s", c.path, c.path, got)
		}
	}
}

// A PostgreSQL URL that pgx refuses to parse (port out of range, an unknown
// sslmode) is refused at database.url, not left to pgx's "cannot parse ...",
// which names no config key.
func TestPostgresURLThatPgxRefusesIsRefused(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"postgres://tagcast@db.internal:99999/tagcast",
		"postgres://tagcast@db.internal:5432/tagcast?sslmode=bogus",
	} {
		if ok, got := problemAt(t, oneApp+"database: {url: '"+u+"'}\n", "database.url"); !ok {
			t.Errorf("database.url %s: accepted; got: %s", u, got)
		}
	}
}

// A PostgreSQL URL with an unencoded '@' in its password
// ("p@ss-SECRET-tail") was accepted: url.Parse ends the user information at
// the last '@', pgx at the first, so pgx took "ss-SECRET-tail@host" for the
// host and printed it in every connection error (`migrate status`,
// every role's start). Refused now, quoting nothing of it; the same
// password percent-encoded is fine.
func TestPostgresPasswordWithUnencodedAtIsRefused(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"postgres://tagcast:p@ss-SECRET-tail@db.internal:5432/tagcast",
		"postgres://tag@SECRET:pw@db.internal/tagcast",
	} {
		ok, got := problemAt(t, oneApp+"database: {url: '"+u+"'}\n", "database.url")
		if !ok || !strings.Contains(got, "%40") {
			t.Errorf("database.url %s: %s; want it refused, telling to percent-encode '@'", u, got)
		}
		if strings.Contains(got, "SECRET") {
			t.Errorf("database.url %s: the problem quotes the password: %s", u, got)
		}
	}
	good := "postgres://tagcast:p%40ss@db.internal:5432/tagcast"
	if ok, got := problemAt(t, oneApp+"database: {url: '"+good+"'}\n", "database.url"); ok {
		t.Errorf("database.url %s (the '@' encoded): refused: %s", good, got)
	}
}

// The duplicate-host rule sees through a trailing slash (or any spelling the
// client normalises to the same base URL): the "backup" host would be the
// primary again, and fail-over would go nowhere.
func TestDuplicateHostDifferentSpellingIsRefused(t *testing.T) {
	t.Parallel()
	y := "apps:\n  - {name: main, app_key: k1, app_secret_env: S, hosts: ['http://127.0.0.1:9090/', 'http://127.0.0.1:9090']}\n"
	if ok, got := problemAt(t, y, "apps[0].hosts[1]"); !ok {
		t.Errorf("hosts http://127.0.0.1:9090/ and http://127.0.0.1:9090 (the same host for the client): no duplicate problem; got: %s", got)
	}
}

// redis://host/0?db=3 names two databases: refused, where the path used to
// win and db=3 was dropped in silence.
func TestRedisURLWithTwoDatabaseNumbersIsRefused(t *testing.T) {
	t.Parallel()
	if ok, got := problemAt(t, oneApp+"redis: {url: 'redis://cache:6379/0?db=3'}\n", "redis.url"); !ok {
		t.Errorf("redis.url with /0 and ?db=3: accepted (database %d used); got: %s", mustDB(t), got)
	}
}

func mustDB(t *testing.T) int {
	t.Helper()
	tg, err := ParseRedisURL("redis://cache:6379/0?db=3")
	if err != nil {
		return -1
	}
	return tg.DB
}

// A URL with a password typed in admin.addr or metrics.addr (where
// admin.server belongs) is shown neither in the problem nor in the dump, and
// "user@host:port" is refused at the check, not at the listen.
func TestListenAddrNeverShowsAPassword(t *testing.T) {
	t.Parallel()
	const pw = "TOPSECRET-4711"
	for _, c := range []struct{ yaml, path string }{
		{oneApp + "admin: {addr: 'http://admin:" + pw + "@0.0.0.0:8080'}\n", "admin.addr"},
		{oneApp + "metrics: {addr: 'admin:" + pw + "@0.0.0.0:9100'}\n", "metrics.addr"},
	} {
		cfg, err := load(t, c.yaml, env{"S": "app-secret"}, nil)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if verr := cfg.Validate(); verr != nil && strings.Contains(verr.Error(), pw) {
			t.Errorf("%s: Validate's error shows the password: %v", c.path, verr)
		}
		for _, s := range cfg.Settings() {
			if strings.Contains(s.Value, pw) {
				t.Errorf("%s: Settings shows the password: %s = %s", c.path, s.Path, s.Value)
			}
		}
	}
	// An '@' in a listen address is never a host: refused, not left to the
	// listen at run time.
	if ok, got := problemAt(t, oneApp+"metrics: {addr: '"+pw+"@0.0.0.0:9100'}\n", "metrics.addr"); !ok {
		t.Errorf("metrics.addr %q: accepted; got: %s", pw+"@0.0.0.0:9100", got)
	}
}
