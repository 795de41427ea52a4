package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPushSendFromAnotherDirectoryKeepsTheQuota: database.url
// defaults to sqlite://tagcast.db (config.example.yaml, README "Single
// node"), a path relative to the working directory, not to the config
// file, and `push send` created and migrated a new, empty store wherever
// it ran. README promises `push send` goes "through the quota guard
// (shared Redis, or no serve running)", but an operator who runs it with
// the team's --config from another directory (a serve running under
// systemd in /var/lib/tagcast, the operator in ~) got a second store
// whose ledger was empty and whose guard lock was another file: nothing
// refused it, and the App Key's quota was handed out again. Here the quota
// is 1 an hour: the second push send, same config, other directory, is
// refused (the relative path names no file, and the configuration is
// elsewhere) and creates nothing.
func TestPushSendFromAnotherDirectoryKeepsTheQuota(t *testing.T) {
	svc := newFakeService(t, okPush)
	body, err := filepath.Abs(examplePushBody)
	if err != nil {
		t.Fatal(err)
	}
	teamDir := t.TempDir()
	cfg := filepath.Join(teamDir, "tagcast.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`apps:
  - name: main
    app_key: %s
    app_secret_env: MAIN_SECRET
    hosts: [%s]
    timeout: 5s
    quota: {hourly: 1, daily: 3}
`, svc.appKey, svc.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"MAIN_SECRET": svc.secret}

	t.Chdir(teamDir) // where the team's serve runs: its store is teamDir/tagcast.db
	if r := runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "push", "send", "--app", "main", body); r.code != 0 {
		t.Fatalf("first push send: %s", r)
	}

	elsewhere := t.TempDir()
	t.Chdir(elsewhere) // an operator's shell, same --config
	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "push", "send", "--app", "main", body)
	created, _ := filepath.Glob(filepath.Join(elsewhere, "tagcast.db*"))
	if r.code != 1 || !strings.Contains(r.stderr, "no SQLite database at "+filepath.Join(elsewhere, "tagcast.db")) || len(created) != 0 {
		t.Errorf("push send with the team's --config from another directory: %s (created %v); want exit 1 naming the missing store, nothing created", r, created)
	}
	if n := len(svc.recorded()); n > 1 {
		t.Errorf("the service received %d pushes within the hour of an app whose quota is 1: "+
			"push send with the same --config from another directory used a new empty store (%v) and its guard counted nothing:\n%s",
			n, created, r)
	}
}

// TestBatchSetFileReportsOnlyRealProblems: `tags batch-set
// --file` with a mistyped user id (a number) and a valid tag list also
// reported "tags: required", a problem the file does not have: the tags
// were read as absent because decoding stopped at the first type problem.
// The help (and README) say every problem is listed; a false one sends
// the operator to fix what is right.
func TestBatchSetFileReportsOnlyRealProblems(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, okPush)
	cfg, vars := svc.configFor(t)
	file := writeFile(t, "batch.json", `{"userIds": [16, "user1"], "tags": ["vip"]}`)
	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfg, "tags", "batch-set", "--app", "main", "--file", file)
	out := r.stdout + r.stderr
	if r.code != 1 || !strings.Contains(out, "userIds[0]") {
		t.Fatalf("batch-set with a numeric user id: %s; want exit 1 naming userIds[0]", r)
	}
	if strings.Contains(out, "tags: required") {
		t.Errorf("batch-set reports tags as missing although the file gives [\"vip\"]:\n%s", r)
	}
	if n := len(svc.recorded()); n != 0 {
		t.Errorf("the service received %d calls; want none for an invalid file", n)
	}
}

// A YAML push body with a second document is refused as a body, not as a
// campaign file: the message said "a campaign file holds one campaign ...
// split the campaigns into files of their own" for a push body.
func TestPushValidateSecondYAMLDocumentIsABodysProblem(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "two.yaml", "platform: [ios]\n---\nplatform: [android]\n")
	r := runTagcast(t, cliEnv{}, "push", "validate", file)
	if r.code != 1 || !strings.Contains(r.stderr, "one YAML document: found a second one") || strings.Contains(r.stderr, "campaign") {
		t.Errorf("push validate of a two-document YAML body: %s; want exit 1 naming the second document, no campaign", r)
	}
}
