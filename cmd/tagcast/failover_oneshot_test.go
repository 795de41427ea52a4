package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/internal/testenv"
)

// primaryDown answers every call 503 from something in front of the
// service (no service code): the data center's primary is unavailable (the
// case the service advises to switch hosts for: "on a timeout or
// unavailability switch to the other host and stay there").
func primaryDown(w http.ResponseWriter, _ *http.Request, _ []byte) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, `<html>503 Service Unavailable</html>`)
}

// primaryFails answers every call 500 with the service's 1000 body: an
// error that may follow a push.
func primaryFails(w http.ResponseWriter, _ *http.Request, _ []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, `{"code":1000,"errorMessage":"internal error"}`)
}

// twoHostConfig writes a config whose app "main" has hosts primary and
// backup (primary first), an embedded Redis and a SQLite store.
func twoHostConfig(t *testing.T, primary, backup *fakeService) (string, map[string]string) {
	t.Helper()
	file := writeFile(t, "tagcast.yaml", fmt.Sprintf(`apps:
  - name: main
    app_key: %s
    app_secret_env: MAIN_SECRET
    hosts: [%s, %s]
    timeout: 5s
database: {url: "sqlite://%s"}
`, primary.appKey, primary.URL, backup.URL, filepath.Join(t.TempDir(), "tagcast.db")))
	return file, map[string]string{"MAIN_SECRET": primary.secret}
}

func callsTo(s *fakeService, path string) int {
	n := 0
	for _, r := range s.recorded() {
		if r.path == path {
			n++
		}
	}
	return n
}

// `push send` is a process of its own: its client starts on the primary
// every time. With the primary unavailable (503: not acted on) the call
// hops to the backup within the call and the push goes out, under its one
// quota slot. Was (for a moment this session, b37fdfd): no hop after any
// answer, and every push send met the dead primary, its slot kept, the
// backup never used.
func TestPushSendReachesTheBackupWhenThePrimaryIsUnavailable(t *testing.T) {
	t.Parallel()
	primary := newFakeService(t, primaryDown)
	backup := newFakeService(t, okPush)
	cfg, vars := twoHostConfig(t, primary, backup)
	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
	if r.code != 0 || callsTo(backup, "/push.json") != 1 {
		t.Errorf("push send with the primary answering 503: %s; backup calls %d, want the push sent there", r, callsTo(backup, "/push.json"))
	}
}

// The tag APIs are idempotent and outside the push quota: a tags command
// (a process of its own, starting on the primary) hops to the backup within
// the call after any 5xx. Was (b37fdfd): no hop after an answer, and every
// `tags get` met the failing primary.
func TestTagsCommandsReachTheBackupAfterThePrimarys5xx(t *testing.T) {
	t.Parallel()
	primary := newFakeService(t, primaryFails)
	backup := tagService(t)
	cfg, vars := twoHostConfig(t, primary, backup)
	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "tags", "get", "--app", "main", "u1", "u2")
	if r.code != 0 || callsTo(backup, "/user/tags/get.json") != 1 {
		t.Errorf("tags get with the primary answering 500: %s; backup calls %d, want the answer from there", r, callsTo(backup, "/user/tags/get.json"))
	}
}

// An answered 500 may follow a push (push send keeps its quota slot and
// ledger entry as possibly sent): push send must not tell the operator
// "nothing was sent", which invites a second push. A 503 (not acted on)
// may say so. Was: "temporary failure: nothing was sent; try again later"
// after any 5xx.
func TestPushSendAfterA5xxSaysWhatMayHaveHappened(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		reply       func(http.ResponseWriter, *http.Request, []byte)
		nothingSent bool
	}{
		{"500", primaryFails, false},
		{"503", primaryDown, true},
	} {
		svc := newFakeService(t, tc.reply)
		cfgFile, vars := svc.configFor(t)
		r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "push", "send", "--app", "main", examplePushBody)
		if r.code == 0 {
			t.Fatalf("%s: push send against a failing service succeeded: %s", tc.name, r)
		}
		if got := strings.Contains(r.stderr, "nothing was sent"); got != tc.nothingSent {
			t.Errorf("%s: push send says \"nothing was sent\": %v, want %v:\n%s", tc.name, got, tc.nothingSent, r)
		}
	}
}

// A 500/1000 on `tags set` may follow the service replacing the user's
// tags (set replaces them all; [] clears them). Was: the tag commands said
// "nothing was changed" after one, telling the operator the old tags were
// intact when they may be gone.
func TestTagsAdviceAfterA500DoesNotSayNothingChanged(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, primaryFails)
	cfgFile, vars := svc.configFor(t)
	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "tags", "set", "--app", "main", "u1")
	if r.code != 1 {
		t.Fatalf("tags set against a 500: %s", r)
	}
	if strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("tags set after an answered 500 (which may follow the change) says \"nothing was changed\":\n%s", r.stderr)
	}
}

// With a shared Redis, a `push send` starts on the host the workers (and
// earlier push sends) use: after one push send met the primary's 500 (its
// slot kept: it may have pushed), the next goes to the backup at once.
// Was: each push send started on the primary, and each cost a quota slot
// on the failing host.
func TestPushSendStartsOnTheSharedActiveHost(t *testing.T) {
	t.Parallel()
	primary := newFakeService(t, primaryFails)
	backup := newFakeService(t, okPush)
	cfg, vars := twoHostConfig(t, primary, backup)
	rds := testenv.Redis(t)
	cfgText, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(cfgText, fmt.Sprintf("redis: {url: %q}\n", rds.URL())...), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody); r.code == 0 {
		t.Fatalf("push send with the primary answering 500 succeeded: %s", r)
	}
	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
	if r.code != 0 || callsTo(primary, "/push.json") != 1 || callsTo(backup, "/push.json") != 1 {
		t.Errorf("the second push send: %s; calls primary %d, backup %d; want 1 (the first's) and 1",
			r, callsTo(primary, "/push.json"), callsTo(backup, "/push.json"))
	}
}
