package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A batch-set file that gives "tags" twice is refused, and nothing is sent:
// JSON's last-one-wins would silently wipe every listed user's tags
// ({"tags":["vip"], ..., "tags":[]} sends []). The admin API refuses such a
// body ("given more than once", admin/apps.go decodeJSON), and so does the
// same file in YAML ("mapping key already defined"); the JSON file must not
// be the one spelling that clears 1000 users.
func TestTagsBatchSetFileDuplicateKeyIsRefused(t *testing.T) {
	t.Parallel()
	svc := tagService(t)
	cfgFile, vars := svc.configFor(t)
	file := writeFile(t, "dup.json", `{"userIds": ["u1", "u2"], "tags": ["vip"], "tags": []}`)
	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "tags", "batch-set", "--app", "main", "--file", file)
	if n := len(svc.recorded()); n != 0 {
		t.Errorf("the service received %d request(s), first %s; want none: a key given twice must be refused, not resolved last-wins\n%s",
			n, svc.recorded()[0].body, r)
	}
	if r.code != 1 || !strings.Contains(r.stderr, "tags") {
		t.Errorf("want exit 1 naming the duplicated key tags:\n%s", r)
	}
}

// The advice printed after a failed tag call must be about the tag APIs,
// not about pushes: the tag APIs do not count against the push quota
// (cmd/tagcast/tags.go tagClient), a 429/1008 there is the batch endpoint's
// 10 requests/s (push-api-facts.md), and a tag set replaces the user's
// tags, so it is safe to run again after an unknown outcome. The CLI used
// to say the app's push quota was used up (wait for the window, up to a
// day) and that a push may have been sent.
func TestTagsFailureAdviceIsAboutTagsNotPushes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		respond func(w http.ResponseWriter, r *http.Request, body []byte)
	}{
		{"429/1008 from the batch rate limit", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"code":1008,"errorMessage":"rate limit exceeded"}`)
		}},
		{"unknown outcome (200 with an unreadable body)", func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>proxy</html>")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc := newFakeService(t, tc.respond)
			cfgFile, vars := svc.configFor(t)
			r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "tags", "batch-set", "--app", "main", "--users", "u1", "--tags", "vip")
			if r.code != 1 {
				t.Fatalf("want exit 1:\n%s", r)
			}
			for _, wrong := range []string{"quota", "this push", "each push"} {
				if strings.Contains(r.stderr, wrong) {
					t.Errorf("the advice for a tag call speaks of %q (push quota / a sent push):\n%s", wrong, r.stderr)
				}
			}
		})
	}
}
