package admin_test

import (
	"slices"
	"strings"
	"testing"
)

// userTags is what the emulated service holds for a user of app main.
func (b bundle) userTags(id string) []string {
	for _, u := range b.emu.Users("key-main") {
		if u.ID == id {
			return u.Tags
		}
	}
	return nil
}

// A tag body's keys are matched exactly, as api/openapi.yaml
// (additionalProperties: false), campaign files and pushapi.DecodeJSON
// (tagcast tags batch-set --file) have them. encoding/json alone matches
// keys to fields regardless of case, and the duplicate check compares
// exact strings: "userids" after "userIds" replaced the users listed
// first, "TAGS": [] wiped the user's tags, both answered 200. Each is a 400
// naming the key, nothing forwarded.
func TestTagBodyKeyInAnotherCaseIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	if r := b.call(t, "PUT", "/v1/apps/main/users/u1/tags", "Bearer "+tokenA, "application/json", strings.NewReader(`{"tags": ["old"]}`)); r.status != 200 {
		t.Fatalf("seed u1: %s", r)
	}
	for _, tc := range []struct{ method, path, body, key string }{
		{"POST", "/v1/apps/main/tags/batch", `{"userIds": ["u1"], "tags": ["vip"], "userids": ["u2", "u3"]}`, "userids"},
		{"PUT", "/v1/apps/main/users/u1/tags", `{"tags": ["vip"], "TAGS": []}`, "TAGS"},
		{"PUT", "/v1/apps/main/users/u1/tags", `{"Tags": ["x"]}`, "Tags"},
	} {
		r := b.call(t, tc.method, tc.path, "Bearer "+tokenA, "application/json", strings.NewReader(tc.body))
		if r.status != 400 || !strings.Contains(r.body, `"path":"`+tc.key+`"`) {
			t.Errorf("%s %s %s: %s; want 400 naming %s (an unknown key, as api/openapi.yaml and campaign files have it)", tc.method, tc.path, tc.body, r, tc.key)
		}
	}
	if got := b.userTags("u1"); !slices.Equal(got, []string{"old"}) {
		t.Errorf("u1's tags are now %q; want [old] (nothing forwarded)", got)
	}
	for _, u := range []string{"u2", "u3"} {
		if got := b.userTags(u); len(got) != 0 {
			t.Errorf("%s, never named by userIds, now has tags %q", u, got)
		}
	}
}

// The tag bodies are application/json only (api/openapi.yaml), and 415
// is part of the error contract, as POST /v1/campaigns answers it. The tag
// endpoints used not to look at Content-Type: a body sent as text/plain or
// as a form was forwarded to the service and answered 200.
func TestTagBodyContentTypeIsChecked(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded"} {
		r := b.call(t, "PUT", "/v1/apps/main/users/u1/tags", "Bearer "+tokenA, ct, strings.NewReader(`{"tags": ["vip"]}`))
		if r.status != 415 {
			t.Errorf("PUT .../tags with Content-Type %s: %s; want 415 (the body is application/json)", ct, r)
		}
		r = b.call(t, "POST", "/v1/apps/main/tags/batch", "Bearer "+tokenA, ct, strings.NewReader(`{"userIds": ["u2"], "tags": ["vip"]}`))
		if r.status != 415 {
			t.Errorf("POST .../tags/batch with Content-Type %s: %s; want 415 (the body is application/json)", ct, r)
		}
	}
	if got := b.userTags("u1"); len(got) != 0 {
		t.Errorf("u1 now has tags %q from a body of the wrong media type", got)
	}
}
