package config

import (
	"strings"
	"testing"
	"time"
)

// The worker rules (attempt_budget >= BeforeCall + timeout, lease >
// BeforeCall + timeout + store_timeout) rest on an app's timeout bounding
// its WHOLE call, fail-over hop included (pushapi.ClientConfig.Timeout: one
// context for both hosts). A first version of the rules doubled the timeout
// for the hop and refused valid configurations (an app timeout of 15 s with
// every worker default; a 60 s timeout with the default 2 min lease).
func TestWorkerRulesTakeOneTimeoutForTheWholeCall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{
		{"timeout 15s, worker defaults (attempt_budget 20s)", 15 * time.Second},
		{"timeout 60s, default lease 2m and store_timeout 15s (attempt_budget 65s)", 60 * time.Second},
	} {
		cfg := Default()
		app := validApp("main")
		app.Timeout = tc.timeout
		cfg.Apps = []App{app}
		cfg.Worker.AttemptBudget = max(cfg.Worker.AttemptBudget, BeforeCall+tc.timeout)
		cfg.Worker.ShutdownTimeout = max(cfg.Worker.ShutdownTimeout, BeforeCall+tc.timeout)
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: refused, though a whole call (fail-over included) takes at most one timeout:\n%v", tc.name, err)
		}
	}
}

// A password "12?a=b" (digits, '?', a '=' later) spills into the query as
// a=b@host/db: database.url must be refused (pgx would dial host "tagcast"
// port 12 without the password), and config check's settings must not show
// the password's tail. A first version of the spill check skipped every
// PostgreSQL query value.
func TestDatabasePasswordSpilledIntoAQueryValueIsRefusedAndHidden(t *testing.T) {
	t.Parallel()
	raw := "postgres://tagcast:12?a=S3CRET@db.internal:5432/tagcast"
	cfg := Default()
	cfg.Database.URL = raw
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "database.url") {
		t.Errorf("Validate accepted the URL (password %q spilled into the query; host parsed as \"tagcast:12\")", "12?a=S3CRET")
	}
	// And what config check prints for it (Settings) quotes the password's tail.
	for _, st := range cfg.Settings() {
		if strings.Contains(st.Value, "S3CRET") {
			t.Errorf("Settings shows %s = %s: the password's tail", st.Path, st.Value)
		}
	}
}

// Every further YAML document is looked at: a first version looked at the
// second only, so an empty second one (a trailing "---" of one file, then
// another file appended) hid a third, whose keys were ignored in silence.
func TestThirdYAMLDocumentIsRefusedToo(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, "apps: []\n---\n---\ndatabase: {url: \"postgres://db.internal/tagcast\"}\n", env{}, nil)
	if err == nil {
		t.Errorf("a third YAML document was accepted and ignored: database.url is %q (the file's third document set postgres://db.internal/tagcast)", cfg.Database.URL)
	}
}
