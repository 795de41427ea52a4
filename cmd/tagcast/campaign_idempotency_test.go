package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/internal/testenv"
)

// campaignFile is a valid campaign file of app main named name.
func campaignFile(name string) string {
	return fmt.Sprintf(`name: %s
app: main
schedule: {at: "%s"}
push:
  platform: [ios, android]
  fromuserid: system
  message: {objectName: AppNote, content: hi}
  audience: {tag: [vip], is_to_all: false}
  notification: {alert: hi}
`, name, adminT0.Add(time.Hour).Format(time.RFC3339))
}

// campaignCount is the number of campaigns the server stored.
func (a *adminServer) campaignCount(t *testing.T) int {
	t.Helper()
	cs, _, err := a.store.List(t.Context(), campaign.ListFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// cliFor runs the command line against the admin API at url.
func cliFor(t *testing.T, url string) func(args ...string) cliResult {
	t.Helper()
	cfg := writeFile(t, "tagcast.yaml", fmt.Sprintf("admin:\n  server: %s\n  token_env: CLI_ADMIN_TOKEN\n", url))
	return func(args ...string) cliResult {
		t.Helper()
		return runTagcast(t, cliEnv{vars: map[string]string{"CLI_ADMIN_TOKEN": adminToken}}, append([]string{"--config", cfg}, args...)...)
	}
}

// TestCampaignCreateIdempotencyKey guards `campaign create
// --idempotency-key`: run again with the key, it creates nothing and says
// the campaign already existed (text, and "replayed" in JSON); with
// another file it is refused; a key that breaks the rule is a usage error.
func TestCampaignCreateIdempotencyKey(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	file := writeFile(t, "sale.yaml", campaignFile("sale"))
	r := a.tagcast(t, "campaign", "create", file, "--idempotency-key", "sale-2026-11")
	m := regexp.MustCompile(`^campaign (\d+) created: sale `).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("first create: %s", r)
	}
	r = a.tagcast(t, "campaign", "create", file, "--idempotency-key", "sale-2026-11")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "campaign "+m[1]+" already existed (created 2026-11-20T09:00:00Z under idempotency key sale-2026-11; nothing created): sale ") {
		t.Errorf("create again with the key: %s; want campaign %s already existed", r, m[1])
	}
	r = a.tagcast(t, "-o", "json", "campaign", "create", file, "--idempotency-key", "sale-2026-11")
	var out struct {
		ID             int64  `json:"id"`
		Name           string `json:"name"`
		Replayed       bool   `json:"replayed"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 || fmt.Sprint(out.ID) != m[1] || out.Name != "sale" || !out.Replayed || out.IdempotencyKey != "sale-2026-11" {
		t.Errorf("-o json create again with the key: %+v, %v: %s; want campaign %s, replayed, the key", out, err, r, m[1])
	}

	other := writeFile(t, "other.yaml", campaignFile("other"))
	r = a.tagcast(t, "campaign", "create", other, "--idempotency-key", "sale-2026-11")
	if r.code != 1 || !strings.Contains(r.stderr, "Idempotency-Key: reused with a different request") || strings.Contains(r.stderr, "may have been created") {
		t.Errorf("another file under the key: %s; want exit 1, the reuse refused, no retry advice", r)
	}
	r = a.tagcast(t, "-o", "json", "campaign", "create", other)
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 || out.Replayed || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(out.IdempotencyKey) {
		t.Errorf("-o json create without a key: %+v, %v: %s; want a new campaign under a random 32-hex key", out, err, r)
	}

	for _, bad := range []string{"", "two words", strings.Repeat("k", 256), "ключ"} {
		if r := a.tagcast(t, "campaign", "create", other, "--idempotency-key", bad); r.code != 2 || !strings.Contains(r.stderr, "--idempotency-key: must be 1 to 255 characters of visible ASCII") {
			t.Errorf("--idempotency-key %q: %s; want exit 2 stating the rule", bad, r)
		}
	}
	if n := a.campaignCount(t); n != 2 {
		t.Errorf("%d campaigns, want 2", n)
	}
}

// dropAfterRequest is a server that reads each request whole, records its
// Idempotency-Key and closes the connection without an answer: a create
// whose answer was lost.
func dropAfterRequest(t *testing.T) (url string, keys func() []string) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []string
	)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen = append(seen, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		_ = conn.Close()
	}))
	t.Cleanup(hs.Close)
	return hs.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// TestCampaignCreateLostAnswerNamesTheKey guards the operator whose create
// lost its answer: the campaign may exist, so the error names the key the
// create was sent with (a random 32-hex one, or --idempotency-key) and
// says to run again with --idempotency-key KEY; an answer that says
// nothing was done (a 4xx, a connection refused) gives no such advice, a
// 5xx does.
func TestCampaignCreateLostAnswerNamesTheKey(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "sale.yaml", campaignFile("sale"))
	url, keys := dropAfterRequest(t)
	tagcast := cliFor(t, url)

	r := tagcast("campaign", "create", file)
	sent := keys()
	if len(sent) != 1 || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(sent[0]) {
		t.Fatalf("keys sent = %q; want one random 32-hex key", sent)
	}
	if want := "run the same command again with --idempotency-key " + sent[0]; r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "may have been created") {
		t.Errorf("lost answer: %s; want exit 1 and %q", r, want)
	}
	r = tagcast("-o", "json", "campaign", "create", file, "--idempotency-key", "my-key-1")
	if sent := keys(); len(sent) != 2 || sent[1] != "my-key-1" {
		t.Errorf("keys sent = %q; want my-key-1 second", sent)
	}
	var report struct {
		Error          string `json:"error"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 1 || !strings.Contains(report.Error, "--idempotency-key my-key-1") ||
		report.IdempotencyKey != "my-key-1" {
		t.Errorf("lost answer, -o json: %v: %s; want the error naming --idempotency-key my-key-1, and the key in idempotency_key", err, r)
	}

	for _, tc := range []struct {
		name   string
		status int
		advice bool
	}{
		{"503", http.StatusServiceUnavailable, true},
		{"500", http.StatusInternalServerError, true},
		{"400", http.StatusBadRequest, false},
		{"409", http.StatusConflict, false},
	} {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, `{"error": "answered `+tc.name+`"}`)
		}))
		r := cliFor(t, hs.URL)("campaign", "create", file, "--idempotency-key", "k-"+tc.name)
		rj := cliFor(t, hs.URL)("-o", "json", "campaign", "create", file, "--idempotency-key", "k-"+tc.name)
		hs.Close()
		if got := strings.Contains(r.stderr, "--idempotency-key k-"+tc.name); r.code != 1 || got != tc.advice {
			t.Errorf("HTTP %s: %s; advice to rerun with the key: %v, want %v", tc.name, r, got, tc.advice)
		}
		// -o json: the key is a field of its own (scripts need not parse
		// the sentence), only where the advice is given.
		if got := strings.Contains(rj.stdout, `"idempotency_key": "k-`+tc.name+`"`); rj.code != 1 || got != tc.advice {
			t.Errorf("HTTP %s, -o json: %s; idempotency_key field: %v, want %v", tc.name, rj, got, tc.advice)
		}
	}
	r = cliFor(t, "http://"+testenv.FreeAddr(t))("campaign", "create", file, "--idempotency-key", "k-refused")
	if r.code != 1 || strings.Contains(r.stderr, "--idempotency-key k-refused") {
		t.Errorf("connection refused: %s; want exit 1 without advice (nothing was sent)", r)
	}
}

// TestCampaignCreateRetryAfterLostAnswer is the whole story: a proxy
// forwards the create to the API, which creates the campaign, and drops
// the answer; the operator runs the command again with the key the error
// names and gets the campaign that exists, not a second one.
func TestCampaignCreateRetryAfterLostAnswer(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	tagcast := cliFor(t, losesFirstAnswer(t, a.url))
	file := writeFile(t, "sale.yaml", campaignFile("sale"))

	r := tagcast("campaign", "create", file)
	m := regexp.MustCompile(`--idempotency-key ([0-9a-f]{32})`).FindStringSubmatch(r.stderr)
	if r.code != 1 || m == nil {
		t.Fatalf("create through a proxy that lost the answer: %s; want exit 1 naming the key", r)
	}
	if n := a.campaignCount(t); n != 1 {
		t.Fatalf("after the lost answer: %d campaigns, want 1 (the API created it)", n)
	}
	r = tagcast("campaign", "create", file, "--idempotency-key", m[1])
	if r.code != 0 || !strings.Contains(r.stdout, "already existed") {
		t.Errorf("rerun with the key: %s; want the existing campaign", r)
	}
	if n := a.campaignCount(t); n != 1 {
		t.Errorf("after the rerun: %d campaigns, want 1", n)
	}
}

// losesFirstAnswer is a proxy to the API at target that forwards every
// request and loses the first answer on the way back (it closes the
// connection instead): a call the API carried out whose answer was lost.
func losesFirstAnswer(t *testing.T, target string) string {
	t.Helper()
	var dropped atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		defer func() { _ = resp.Body.Close() }()
		if !dropped.Swap(true) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	return proxy.URL
}
