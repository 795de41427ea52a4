package admin_test

import (
	"strings"
	"testing"
)

// A blank user in PUT /v1/apps/{app}/users/{user}/tags is a problem of the
// path parameter "user" (api/openapi.yaml: a problem's path is "a JSON path
// into the body, or the name of the query or path parameter"), as GET
// /v1/apps/{app}/tags renames pushapi's "userIds" to its "user" parameter.
// It used to name "userId", a field that exists neither in the body
// (additionalProperties: false, only "tags") nor in the URL.
func TestSetUserTagsBlankUserNamesThePathParameter(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	r := b.call(t, "PUT", "/v1/apps/main/users/%20/tags", "Bearer "+tokenA, "application/json", strings.NewReader(`{"tags": ["vip"]}`))
	if r.status != 400 {
		t.Fatalf("PUT blank user: %s; want 400", r)
	}
	if !strings.Contains(r.body, `"path":"user"`) || strings.Contains(r.body, `"path":"userId"`) {
		t.Errorf("PUT blank user: %s; want the problem at path \"user\" (the path parameter), not \"userId\"", r)
	}
}
