package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/quota"
)

// Against an admin API older than this CLI, DELETE /v1/quota/{app}/block
// answers the app's quota only, with no "lifted": `quota unblock` says it
// cannot tell whether there was a block, not "not blocked" (which it said
// of a block the server had just lifted).
func TestQuotaUnblockAgainstAnOlderServer(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete || r.URL.Path != "/v1/quota/main/block" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(quota.Status{App: "main", At: at, Timezone: "Asia/Shanghai", NextOpening: at})
	}))
	t.Cleanup(srv.Close)
	env := cliEnv{vars: map[string]string{"TAGCAST_ADMIN_SERVER": srv.URL, "TAGCAST_ADMIN_TOKEN": "tok"}}

	r := runTagcast(t, env, "quota", "unblock", "--app", "main")
	if r.code != 0 || !strings.Contains(r.stdout, "main: block lifted if there was one (the server, older than this CLI, does not say)") ||
		strings.Contains(r.stdout, "not blocked") {
		t.Errorf("quota unblock against an older server: %s\nwant it to say the server does not tell, not \"not blocked\"", r)
	}
	r = runTagcast(t, env, "-o", "json", "quota", "unblock", "--app", "main")
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 {
		t.Fatalf("-o json: %v\n%s", err, r)
	}
	if v, ok := out["lifted"]; !ok || v != nil {
		t.Errorf("-o json against an older server: lifted = %v (present %v); want null: unknown", v, ok)
	}
}
