package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Was: an error page in front of the admin API (a proxy or gateway
// answering 502) that echoes the request's headers put the admin token in
// the CLI's error: admin.Client.doHeader quoted the first 200 bytes of a
// non-JSON error body verbatim ("campaign list: Bad Gateway <html>...
// Bearer <token>... (HTTP 502)"). The README promises admin tokens are
// "redacted in every log line, error and dump"; the client now replaces
// the token in any error body it shows.
func TestAdminErrorBodyNeverShowsTheToken(t *testing.T) {
	t.Parallel()
	const token = "adm-TOKEN-7f3c9e21"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html>upstream failed; request headers: Authorization: "+r.Header.Get("Authorization")+"</html>\n")
	}))
	t.Cleanup(srv.Close)
	vars := map[string]string{"TAGCAST_ADMIN_SERVER": srv.URL, "TAGCAST_ADMIN_TOKEN": token}
	for _, args := range [][]string{{"campaign", "list"}, {"-o", "json", "quota", "status"}} {
		r := runTagcast(t, cliEnv{vars: vars}, args...)
		if r.code != 1 {
			t.Errorf("%v: want exit 1: %s", args, r)
		}
		assertNoSecret(t, r, token)
	}
}
