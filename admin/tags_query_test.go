package admin_test

import (
	"strings"
	"testing"
)

// TestGetTagsNamesEveryProblem guards "400 invalid input (every problem
// with its field path)" (api/openapi.yaml) on GET tags, which refuses
// unknown query parameters: a misspelt ?users=u1 (so no user at all) names
// both users and the missing user, as retry and show name every bad
// parameter at once (found by a review: it answered the unknown one alone).
func TestGetTagsNamesEveryProblem(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	r := b.call(t, "GET", "/v1/apps/main/tags?users=u1", "Bearer "+tokenA, "", nil)
	if r.status != 400 || !strings.Contains(r.body, `"path":"users"`) || !strings.Contains(r.body, `"path":"user"`) {
		t.Errorf("GET /v1/apps/main/tags?users=u1: %s; want 400 naming users (unknown) and user (required)", r)
	}
}
