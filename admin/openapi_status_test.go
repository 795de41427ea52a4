package admin_test

import (
	"net/http"
	"os"
	"strconv"
	"testing"

	"go.yaml.in/yaml/v3"
)

// documentedStatuses reads the response codes api/openapi.yaml lists for
// each "METHOD /path" operation.
func documentedStatuses(t *testing.T) map[string]map[string]bool {
	t.Helper()
	data, err := os.ReadFile("../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for path, ops := range doc.Paths {
		for method, node := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Responses map[string]any `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatal(err)
			}
			codes := map[string]bool{}
			for c := range op.Responses {
				codes[c] = true
			}
			out[method+" "+path] = codes
		}
	}
	return out
}

// TestStatusesAreDocumented sends requests an operator's client may
// send, to the API on a real store and a Redis that is down, and checks
// that api/openapi.yaml documents the status each gets.
func TestStatusesAreDocumented(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	b.redis.Kill(t) // the quota guard's Redis is down
	documented := documentedStatuses(t)
	for _, tc := range []struct{ op, method, target string }{
		{"post /v1/campaigns/{id}/pause", "POST", "/v1/campaigns/abc/pause"},
		{"post /v1/campaigns/{id}/resume", "POST", "/v1/campaigns/0/resume"},
		{"post /v1/campaigns/{id}/cancel", "POST", "/v1/campaigns/x/cancel"},
		{"get /v1/quota", "GET", "/v1/quota"},
		{"get /v1/quota/{app}", "GET", "/v1/quota/main"},
	} {
		r := b.call(t, tc.method, tc.target, "Bearer "+tokenA, "", nil)
		code := strconv.Itoa(r.status)
		if r.status == http.StatusInternalServerError || !documented[tc.op][code] {
			t.Errorf("%s %s: status %s, which api/openapi.yaml does not list for %s (it lists %v); body %s",
				tc.method, tc.target, code, tc.op, documented[tc.op], r.body)
		}
	}
}
