package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Was: a server at admin.server that is not tagcast's admin API but
// answers every request 200 with a JSON object (a gateway's catch-all, a
// health endpoint: {"status":"ok"}) made `campaign create` report success:
// the answer decoded into a zero campaign, and the CLI printed "campaign 0
// created: ..." and exited 0, though nothing was created and nothing would
// fire; `null` or `{}` did the same for cancel, pause, retry and unblock.
// An answer without the key every answer of the call holds is now an
// error.
func TestAdminCommandsRefuseAnAnswerThatIsNotTheAPIs(t *testing.T) {
	t.Parallel()
	for _, answer := range []string{`{"status":"ok"}`, `{}`, `null`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, answer)
		}))
		t.Cleanup(srv.Close)
		vars := map[string]string{"TAGCAST_ADMIN_SERVER": srv.URL, "TAGCAST_ADMIN_TOKEN": "tok"}
		file := writeFile(t, "c.yaml", "name: x\napp: main\nschedule: {now: true}\npush: {platform: [ios], fromuserid: s, audience: {tag: [a]}, notification: {alert: hi}}\n")
		for _, args := range [][]string{
			{"campaign", "create", file}, {"campaign", "cancel", "7"}, {"campaign", "pause", "7"},
			{"campaign", "retry", "7"}, {"quota", "unblock", "--app", "main"}, {"campaign", "list"},
		} {
			r := runTagcast(t, cliEnv{vars: vars}, args...)
			if r.code != 1 || !strings.Contains(r.stderr, "is admin.server tagcast's admin API?") {
				t.Errorf("answer %s to %v: %s; want exit 1, the answer not the admin API's", answer, args, r)
			}
		}
	}
}
