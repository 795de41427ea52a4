package admin_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// A tags body with a thousand problems answers an "error" that lists the
// first few and counts the rest (pushapi.ProblemsMessage), on both tags
// endpoints; the problems list keeps every one. PUT .../users/{user}/tags
// built its own message from every problem: 30 KB for 1,000 empty tags.
func TestTagsMessagesAreCapped(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	tags := make([]string, 1000)
	body, err := json.Marshal(map[string]any{"tags": tags})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/apps/main/tags/batch", `{"userIds":["u1"],"tags":` + string(body[len(`{"tags":`):len(body)-1]) + `}`},
		{"PUT", "/v1/apps/main/users/u1/tags", string(body)},
	} {
		r := b.call(t, c.method, c.path, "Bearer "+tokenA, "application/json", strings.NewReader(c.body))
		var out struct {
			Error    string `json:"error"`
			Problems []any  `json:"problems"`
		}
		if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 400 {
			t.Fatalf("%s %s: %d %.300s", c.method, c.path, r.status, r.body)
		}
		if len(out.Error) > 4096 || len(out.Problems) < 1000 {
			t.Errorf("%s %s: an error message of %d bytes for %d problems (want it capped, every problem in the list): %.160s...",
				c.method, c.path, len(out.Error), len(out.Problems), out.Error)
		}
	}
}
