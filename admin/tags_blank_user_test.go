package admin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/admin"
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

// TestClientRefusesDotSegments: a user (or app) "." or ".." put in the
// path reached the server's router, which resolved it as a directory and
// redirected; the client, which follows no redirect, then advised setting
// admin.server, which was right. It now refuses before any request, naming
// the value.
func TestClientRefusesDotSegments(t *testing.T) {
	t.Parallel()
	c, err := admin.NewClient("http://127.0.0.1:1", tokenA, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{".", ".."} {
		_, err := c.SetUserTags(context.Background(), "main", user, []string{"vip"})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q cannot be a name", user)) || strings.Contains(err.Error(), "admin.server") {
			t.Errorf("SetUserTags(user %q) = %v; want a refusal naming %q, not a connection problem", user, err, user)
		}
	}
}
