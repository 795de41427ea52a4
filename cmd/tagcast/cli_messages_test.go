package main

// What the operator commands say: one app's secret for one app's command,
// the same JSON keys and shapes across commands, what an unblock or a retry
// did, and help's unknown topic as a usage error.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// twoAppConfig is a team configuration: app main on svc (its secret in
// MAIN_SECRET) and app other, whose secret (OTHER_SECRET) this operator
// may not hold.
func twoAppConfig(t *testing.T, svc *fakeService) string {
	t.Helper()
	return writeFile(t, "tagcast.yaml", fmt.Sprintf(`apps:
  - name: main
    app_key: %s
    app_secret_env: MAIN_SECRET
    hosts: [%s]
    timeout: 5s
  - name: other
    app_key: key-other
    app_secret_env: OTHER_SECRET
    data_center: beijing
database: {url: "sqlite://%s"}
`, svc.appKey, svc.URL, filepath.Join(t.TempDir(), "tagcast.db")))
}

// `tags` and `push send --app main` need main's App Secret only: another
// app's unset secret variable is no problem for them. main's own missing
// secret is still refused, naming its variable, and no secret is printed.
func TestTagsAndPushSendNeedOnlyTheirAppsSecret(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, func(w http.ResponseWriter, r *http.Request, b []byte) {
		if r.URL.Path == "/push.json" {
			okPush(w, r, b)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"code":200,"result":{"u1":["vip"]}}`)
	})
	cfg := twoAppConfig(t, svc)
	const otherSecret = "OTHER-SECRET-0815"

	for _, args := range [][]string{
		{"tags", "get", "--app", "main", "u1"},
		{"tags", "set", "--app", "main", "u1", "vip"},
		{"push", "send", "--app", "main", examplePushBody},
	} {
		// OTHER_SECRET not set.
		r := runTagcast(t, cliEnv{vars: map[string]string{"MAIN_SECRET": svc.secret}}, append([]string{"--config", cfg}, args...)...)
		if r.code != 0 || strings.Contains(r.stderr, "OTHER_SECRET") || strings.Contains(r.stdout+r.stderr, svc.secret) {
			t.Errorf("tagcast %s with only main's secret: %s\nwant exit 0: another app's unset secret is no problem for --app main", strings.Join(args, " "), r)
		}
		// MAIN_SECRET not set: refused, naming it (and not the other's).
		r = runTagcast(t, cliEnv{vars: map[string]string{"OTHER_SECRET": otherSecret}}, append([]string{"--config", cfg}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "MAIN_SECRET") || !strings.Contains(r.stderr, "not set") ||
			strings.Contains(r.stderr, "OTHER_SECRET") || strings.Contains(r.stdout+r.stderr, otherSecret) {
			t.Errorf("tagcast %s without main's secret: %s\nwant exit 1 naming MAIN_SECRET (not set), and no other app's variable or secret", strings.Join(args, " "), r)
		}
	}
}

// `migrate up|down -o json` use the lower-case keys of `migrate status -o
// json` ("version", "name"), not Go's field names.
func TestMigrateJSONKeysMatchStatus(t *testing.T) {
	t.Parallel()
	db := "sqlite://" + filepath.Join(t.TempDir(), "m.db")
	for _, verb := range []string{"up", "down"} {
		r := runTagcast(t, cliEnv{}, "-o", "json", "migrate", verb, "--database", db)
		var res []map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 || len(res) == 0 {
			t.Fatalf("migrate %s -o json: %v\n%s", verb, err, r)
		}
		for _, k := range []string{"version", "name", "duration"} {
			if _, ok := res[0][k]; !ok {
				t.Errorf("migrate %s -o json keys %v; want %q (lower-case, as migrate status prints them)", verb, keys(res[0]), k)
			}
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// `push validate -o json` prints its report {file, valid, problems} for a
// body that is not JSON too (as config check does for such a file), the
// read error its problem; a valid body's problems are [], not null.
func TestPushValidateJSONKeepsItsShape(t *testing.T) {
	t.Parallel()
	r := runTagcast(t, cliEnv{}, "-o", "json", "push", "validate", examplePushBody)
	if r.code != 0 || !strings.Contains(r.stdout, `"problems": []`) {
		t.Errorf("valid body: %s\nwant \"problems\": [] (as config check prints), not null", r)
	}

	bad := writeFile(t, "bad.json", `{"platform": [}`)
	r = runTagcast(t, cliEnv{}, "-o", "json", "push", "validate", bad)
	var rep struct {
		File     *string `json:"file"`
		Valid    *bool   `json:"valid"`
		Problems []struct {
			Path string `json:"path"`
			Rule string `json:"rule"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
		t.Fatalf("malformed body: %v\n%s", err, r)
	}
	if rep.File == nil || *rep.File != bad || rep.Valid == nil || *rep.Valid || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Rule, bad+":1:") {
		t.Errorf("malformed body -o json: %s\nwant the report shape: \"file\", \"valid\": false, and the read error (file:line:column) as its problem", r.stdout)
	}
}

// `quota unblock` says whether it lifted a block, and until when that
// block held the app, or that the app was not blocked; -o json adds
// "lifted" (and "lifted_block_until") to the quota it printed before.
func TestQuotaUnblockSaysWhatItLifted(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	if _, err := a.guard.HoldFor(context.Background(), "main", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	lifted := a.tagcast(t, "quota", "unblock", "--app", "main")
	again := a.tagcast(t, "quota", "unblock", "--app", "main")
	if lifted.code != 0 || again.code != 0 {
		t.Fatalf("unblock: %s\n%s", lifted, again)
	}
	if !strings.Contains(lifted.stdout, "main: block lifted (it held the app until ") || !strings.Contains(again.stdout, "main: not blocked; nothing to lift") {
		t.Errorf("lifting a block:\n%s\nand a no-op unblock:\n%s\nwant the lifted block (until when) said, and \"not blocked\" the second time", lifted.stdout, again.stdout)
	}

	if _, err := a.guard.HoldFor(context.Background(), "main", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	type unblocked struct {
		App              string    `json:"app"`
		NextOpening      time.Time `json:"next_opening"`
		Lifted           *bool     `json:"lifted"`
		LiftedBlockUntil time.Time `json:"lifted_block_until"`
	}
	var first, second unblocked
	for _, u := range []*unblocked{&first, &second} {
		r := a.tagcast(t, "-o", "json", "quota", "unblock", "--app", "main")
		if err := json.Unmarshal([]byte(r.stdout), u); err != nil || r.code != 0 || u.App != "main" || u.NextOpening.IsZero() || u.Lifted == nil {
			t.Fatalf("quota unblock -o json: %v\n%s\nwant the app's quota and \"lifted\"", err, r)
		}
	}
	if !*first.Lifted || first.LiftedBlockUntil.IsZero() || *second.Lifted || !second.LiftedBlockUntil.IsZero() {
		t.Errorf("-o json: first unblock lifted=%v until %s, second lifted=%v until %s; want true with the block's end, then false without",
			*first.Lifted, first.LiftedBlockUntil, *second.Lifted, second.LiftedBlockUntil)
	}
}

// `campaign retry --unknown` re-sends sends that may already have been
// delivered: its text says so, as its JSON's "unknown": true does.
func TestRetryUnknownSaysSoInText(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	if r := a.tagcast(t, "campaign", "create", examplePath("user-id-campaign.yaml")); r.code != 0 {
		t.Fatal(r)
	}
	runs, err := a.store.ClaimDue(context.Background(), adminT0, adminT0, 10, campaign.SimplePlan(time.Minute))
	if err != nil || len(runs) != 1 {
		t.Fatalf("ClaimDue = %v %v", runs, err)
	}
	settleRun(t, a.store, runs[0].ID, campaign.SendSent, campaign.SendFailed, campaign.SendUnknown)
	r := a.tagcast(t, "campaign", "retry", "1", "--unknown")
	if r.code != 0 {
		t.Fatal(r)
	}
	if want := "campaign 1: 2 sends in 1 run will be sent again, including unknown sends, which may already have been delivered"; !strings.Contains(r.stdout, want) {
		t.Errorf("retry --unknown: %s\nwant %q", r, want)
	}
}

// An unknown help topic is a usage error like any unknown command: exit 2,
// the error on stderr (and, under -o json, as JSON on stdout), not
// cobra's "Unknown help topic" and usage on stdout with exit 0.
func TestHelpUnknownTopicIsAUsageError(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help", "bogus"}, {"-o", "json", "help", "bogus"}, {"help", "tags", "bogus"}} {
		r := runTagcast(t, cliEnv{}, args...)
		if r.code != 2 || strings.Contains(r.stdout, "Unknown help topic") || !strings.Contains(r.stderr, "unknown help topic") {
			t.Errorf("tagcast %s: %.300s\nwant exit 2 and the error on stderr", strings.Join(args, " "), r)
		}
	}
	if r := runTagcast(t, cliEnv{}, "-o", "json", "help", "bogus"); !json.Valid([]byte(r.stdout)) {
		t.Errorf("tagcast -o json help bogus: stdout %q; want the JSON error report", r.stdout)
	}
	for _, args := range [][]string{{"help"}, {"help", "tags"}, {"help", "campaign", "retry"}} {
		if r := runTagcast(t, cliEnv{}, args...); r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("tagcast %s: %.300s\nwant the help page, exit 0", strings.Join(args, " "), r)
		}
	}
}
