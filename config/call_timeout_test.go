package config

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/pushapi"
)

// The worker rules (attempt_budget >= BeforeCall + timeout, lease >
// BeforeCall + timeout + store_timeout) rest on an app's timeout bounding its WHOLE call, fail-over
// hop included: shown here with the client built from the app's own
// ClientConfig. A first version of the rules doubled the timeout for the
// hop and refused valid configurations (an app timeout of 15 s with every
// worker default; a 60 s timeout with the default 2 min lease).
func TestWorkerRulesTakeOneTimeoutForTheWholeCall(t *testing.T) {
	t.Parallel()
	// 1. The premise: one Timeout bounds the call and its fail-over hop.
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		w.WriteHeader(http.StatusServiceUnavailable) // 5xx: the client hops
	}))
	defer first.Close()
	second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hangs
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	}))
	defer second.Close()
	a := validApp("main")
	a.Hosts = []string{first.URL, second.URL}
	a.Timeout = 300 * time.Millisecond
	c, err := pushapi.NewClient(a.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, perr := c.Push(context.Background(), &pushapi.Request{
		Platform: []string{pushapi.PlatformIOS, pushapi.PlatformAndroid}, FromUserID: "system",
		Message:      &pushapi.Message{ObjectName: "RC:TxtMsg", Content: `{"content":"x"}`},
		Audience:     pushapi.Audience{Tag: []string{"vip"}},
		Notification: &pushapi.Notification{Title: "t", Alert: "a"},
	})
	took := time.Since(start)
	if perr == nil {
		t.Fatal("push succeeded against a hanging fail-over host")
	}
	var pe *pushapi.Error
	if !errors.As(perr, &pe) || pe.Attempts != 2 {
		t.Fatalf("premise check: want a failed call with its fail-over hop (2 attempts), got %v", perr)
	}
	if took > a.Timeout+150*time.Millisecond {
		t.Fatalf("premise check: the call with its hop took %s, more than one timeout %s", took, a.Timeout)
	}
	t.Logf("a call plus its fail-over hop ended after %s with timeout %s (one timeout, not two)", took.Round(time.Millisecond), a.Timeout)

	// 2. Configurations the rules must keep.
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
