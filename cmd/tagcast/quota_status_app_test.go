package main

import (
	"strings"
	"testing"
)

// TestQuotaStatusDotAppNamesTheFlag: `quota status --app .` (or ..)
// fails with "redirected to \"/v1/quota\", not followed ...: set
// admin.server to the address that answers" and exit 1: the app name is
// put in the URL path unchecked, the server's mux cleans the dot segment
// and redirects, and the error sends the operator to fix admin.server,
// which is right. Other unknown names get a usage error naming --app
// (exit 2); these must too (neither is a valid app name: names start with a
// letter or digit).
func TestQuotaStatusDotAppNamesTheFlag(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	for _, name := range []string{".", ".."} {
		r := a.tagcast(t, "quota", "status", "--app", name)
		if r.code != 2 || !strings.Contains(r.stderr, "--app") || strings.Contains(r.stderr, "admin.server") {
			t.Errorf("quota status --app %q: %s\nwant exit 2 naming --app (not advice to change admin.server)", name, r)
		}
	}
}
