package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/quota"
)

const adminToken = "ADMIN-TOKEN-cli-3c2b1a"

// adminClock is the admin server's injected clock.
type adminClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *adminClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// adminServer is a running admin API (SQLite store, quota guard on a real
// throwaway redis-server) and the config and environment the CLI uses to reach it.
type adminServer struct {
	url   string
	store *sqlstore.Store
	guard *quota.Guard
	clock *adminClock
	cfg   string
	vars  map[string]string
}

var adminT0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// sqliteStore is a migrated store in a new SQLite file, closed at the end
// of the test.
func sqliteStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

func startAdmin(t *testing.T) *adminServer {
	t.Helper()
	st := sqliteStore(t)
	rs := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	clock := &adminClock{t: adminT0}
	guard, err := quota.New(quota.Options{Client: rdb, Ledger: st, Now: clock.Now, Apps: map[string]quota.Policy{"main": quota.DefaultPolicy()}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Options{
		Tokens: []string{adminToken}, Apps: []string{"main"}, Store: st,
		Operations: admin.StoreOperations{Store: st, Now: clock.Now}, Quota: guard,
		Now: clock.Now, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	a := &adminServer{url: hs.URL, store: st, guard: guard, clock: clock}
	a.cfg = writeFile(t, "tagcast.yaml", fmt.Sprintf("admin:\n  server: %s\n  token_env: CLI_ADMIN_TOKEN\n", hs.URL))
	a.vars = map[string]string{"CLI_ADMIN_TOKEN": adminToken}
	return a
}

// tagcast runs the command line against the server.
func (a *adminServer) tagcast(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := runTagcast(t, cliEnv{vars: a.vars}, append([]string{"--config", a.cfg}, args...)...)
	assertNoSecret(t, r, adminToken)
	return r
}

// examplePath is a file of examples/.
func examplePath(name string) string { return filepath.Join("..", "..", "examples", name) }

func TestCampaignCommands(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)

	// create: every example file.
	ids := map[string]int64{}
	for _, name := range []string{"marketing-broadcast.yaml", "recurring-announcement.yaml", "user-id-campaign.yaml"} {
		r := a.tagcast(t, "campaign", "create", examplePath(name))
		m := regexp.MustCompile(`^campaign (\d+) created: `).FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil {
			t.Fatalf("create %s: %s", name, r)
		}
		var id int64
		_, _ = fmt.Sscan(m[1], &id)
		ids[name] = id
	}
	if r := a.tagcast(t, "campaign", "create", examplePath("marketing-broadcast.yaml")); !strings.Contains(r.stdout, "next run 2030-12-01T01:00:00Z") {
		t.Errorf("create prints the next run: %s", r)
	}

	// list: table, filters, paging, json.
	r := a.tagcast(t, "campaign", "list")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ID  APP   NAME") || strings.Count(r.stdout, "\n") != 5 {
		t.Errorf("list: %s", r)
	}
	if !strings.Contains(r.stdout, "cron 0 9 * * MON (Asia/Shanghai)") {
		t.Errorf("list lacks the cron schedule: %s", r)
	}
	r = a.tagcast(t, "campaign", "list", "--limit", "2")
	if r.code != 0 || !strings.HasSuffix(r.stdout, "more: --after 2\n") {
		t.Errorf("list --limit 2: %s", r)
	}
	r = a.tagcast(t, "-o", "json", "campaign", "list", "--name", "beta", "--status", "active", "--app", "main")
	var page admin.CampaignPage
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || r.code != 0 || len(page.Campaigns) != 1 || page.Campaigns[0].ID != ids["user-id-campaign.yaml"] {
		t.Errorf("list --name beta -o json: %v %s", err, r)
	}
	if r = a.tagcast(t, "campaign", "list", "--status", "sleeping"); r.code != 2 || !strings.Contains(r.stderr, "--status") {
		t.Errorf("list --status sleeping: %s, want exit 2", r)
	}

	// The user-id campaign fires into 3 sends: sent, failed, unknown.
	runs, err := a.store.ClaimDue(context.Background(), adminT0, adminT0, 10, campaign.SimplePlan(time.Minute))
	if err != nil || len(runs) != 1 {
		t.Fatalf("ClaimDue = %v %v", runs, err)
	}
	settleRun(t, a.store, runs[0].ID, campaign.SendSent, campaign.SendFailed, campaign.SendUnknown)
	uid := fmt.Sprint(ids["user-id-campaign.yaml"])

	r = a.tagcast(t, "campaign", "show", uid)
	for _, want := range []string{"name      beta-invitation", "partially_failed", "MESSAGE UID", "UID-CLI-1", "PUSH-CLI-1", "1002", "unknown"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q: %s", want, r)
		}
	}
	r = a.tagcast(t, "-o", "json", "campaign", "show", uid)
	var d campaign.Detail
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || len(d.Runs) != 1 || len(d.Runs[0].Sends) != 3 {
		t.Fatalf("show -o json: %v %s", err, r)
	}
	got := []string{}
	for _, s := range d.Runs[0].Sends {
		got = append(got, fmt.Sprintf("%s/%d/%d/%s", s.Status, s.Attempts, s.LastCode, s.MessageUID))
	}
	if diff := cmp.Diff([]string{"sent/1/200/UID-CLI-1", "failed/1/1002/", "unknown/1/0/"}, got); diff != "" {
		t.Errorf("sends in show -o json (-want +got):\n%s", diff)
	}

	// retry: failed only, then unknown on request.
	r = a.tagcast(t, "campaign", "retry", uid)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("run %d: 1 send reset", runs[0].ID)) {
		t.Errorf("retry: %s", r)
	}
	r = a.tagcast(t, "campaign", "retry", uid, "--unknown")
	if r.code != 1 || !strings.Contains(r.stderr, "HTTP 409") {
		t.Errorf("retry of a pending run: %s, want exit 1 with the conflict", r)
	}
	if r = a.tagcast(t, "campaign", "retry", uid, "--run", "999"); r.code != 1 || !strings.Contains(r.stderr, "not a run of campaign") {
		t.Errorf("retry --run of another run: %s", r)
	}

	// pause, resume, cancel and a refused transition.
	mid := fmt.Sprint(ids["recurring-announcement.yaml"])
	if r = a.tagcast(t, "campaign", "pause", mid); r.code != 0 || !strings.Contains(r.stdout, "(weekly-maintenance-notice): paused") {
		t.Errorf("pause: %s", r)
	}
	if r = a.tagcast(t, "campaign", "pause", mid); r.code != 1 || !strings.Contains(r.stderr, "cannot move from paused to paused") || !strings.Contains(r.stderr, "HTTP 409") {
		t.Errorf("pause twice: %s, want exit 1 with 409", r)
	}
	if r = a.tagcast(t, "campaign", "resume", mid); r.code != 0 || !strings.Contains(r.stdout, ": active, next run 2030-01-07T01:00:00Z") {
		t.Errorf("resume: %s", r)
	}
	r = a.tagcast(t, "-o", "json", "campaign", "cancel", mid)
	var c campaign.Campaign
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || c.Status != campaign.CampaignCancelled {
		t.Errorf("cancel -o json: %v %s", err, r)
	}
	if r = a.tagcast(t, "campaign", "show", "999"); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("show a missing campaign: %s", r)
	}

	// Usage errors: exit 2.
	for _, args := range [][]string{{"campaign", "show", "abc"}, {"campaign", "show"}, {"campaign", "pause", "0"}, {"campaign"}, {"campaign", "create"}} {
		if r = a.tagcast(t, args...); r.code != 2 {
			t.Errorf("%v: %s, want exit 2", args, r)
		}
	}
}

func TestCampaignCreateInvalidPrintsEveryProblem(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	file := writeFile(t, "bad.yaml", `name: ""
app: nope
schedule: {cron: "0 9 * * *", timezone: Mars/Olympus, missed: sometimes}
push: {platform: [web], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {tag: [x]}, notification: {alert: hi}}
`)
	r := a.tagcast(t, "campaign", "create", file)
	if r.code != 1 {
		t.Fatalf("invalid campaign: %s, want exit 1", r)
	}
	for _, want := range []string{"name: required", "app: \"nope\" is not a configured app", "schedule.missed: ", "schedule.timezone: unknown time zone", "push.platform[0]: ", "invalid campaign (5 problems)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Count(r.stderr, "5 problem") != 1 {
		t.Errorf("the count is said more than once:\n%s", r.stderr)
	}
	if r := a.tagcast(t, "campaign", "create", filepath.Join(t.TempDir(), "missing.yaml")); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("missing file: %s", r)
	}
	if r := a.tagcast(t, "-o", "json", "campaign", "list"); r.code != 0 || !strings.Contains(r.stdout, `"campaigns": []`) {
		t.Errorf("nothing was created: %s", r)
	}
}

func TestQuotaStatusCommand(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	r := a.tagcast(t, "quota", "status")
	want := "APP   WINDOW  MODE      LIMIT  USED  REMAINING  NEXT OPENING  TIMEZONE\n" +
		"main  hour    rolling   2      0     2          now           Asia/Shanghai\n" +
		"main  day     calendar  3      0     3          now           Asia/Shanghai\n" +
		"main: next send possible now\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("quota status: %s\nwant:\n%s", r, want)
	}
	r = a.tagcast(t, "-o", "json", "quota", "status", "--app", "main")
	var st quota.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.App != "main" || st.Day.Limit != 3 || st.Hour.Remaining != 2 {
		t.Errorf("quota status --app main -o json: %v %s", err, r)
	}
	if r = a.tagcast(t, "quota", "status", "--app", "nope"); r.code != 2 || !strings.Contains(r.stderr, "not configured") || !strings.Contains(r.stderr, "404") {
		t.Errorf("quota status --app nope: %s", r)
	}
}

func TestAdminCommandsWithoutServerOrToken(t *testing.T) {
	t.Parallel()
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := writeFile(t, "tagcast.yaml", "admin:\n  server: http://"+addr+"\n")
	r := runTagcast(t, cliEnv{vars: map[string]string{"TAGCAST_ADMIN_TOKEN": adminToken}}, "--config", cfg, "campaign", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "admin API at http://"+addr+" is unreachable") {
		t.Errorf("unreachable server: %s", r)
	}
	assertNoSecret(t, r, adminToken)
	r = runTagcast(t, cliEnv{}, "--config", cfg, "quota", "status")
	if r.code != 1 || !strings.Contains(r.stderr, "no admin token: set TAGCAST_ADMIN_TOKEN") {
		t.Errorf("no token: %s", r)
	}
	// A wrong token is refused with a hint, never echoed.
	a := startAdmin(t)
	r = runTagcast(t, cliEnv{vars: map[string]string{"CLI_ADMIN_TOKEN": "wrong-token-xyz"}}, "--config", a.cfg, "campaign", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "refused the token") || strings.Contains(r.stderr, "wrong-token-xyz") {
		t.Errorf("wrong token: %s", r)
	}
}

// settleRun sends a run's sends with the given outcomes and finishes it.
func settleRun(t *testing.T, st *sqlstore.Store, runID int64, outcomes ...campaign.SendStatus) {
	t.Helper()
	ctx := context.Background()
	now := adminT0.Add(time.Minute)
	if _, err := st.StartRun(ctx, runID, now); err != nil {
		t.Fatal(err)
	}
	_, sends, err := st.GetRun(ctx, runID)
	if err != nil || len(sends) != len(outcomes) {
		t.Fatalf("run %d: %d sends, %v; want %d", runID, len(sends), err, len(outcomes))
	}
	for i, sd := range sends {
		sd, err := st.ClaimSend(ctx, sd.ID, now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		o := campaign.Outcome{Status: outcomes[i], At: now}
		switch o.Status {
		case campaign.SendSent:
			o.Code, o.PushID, o.MessageUID = 200, fmt.Sprintf("PUSH-CLI-%d", i+1), fmt.Sprintf("UID-CLI-%d", i+1)
		case campaign.SendFailed:
			o.Code, o.Message = 1002, "parameter error"
		}
		if _, err := st.RecordOutcome(ctx, sd.Token(), o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.FinishRun(ctx, runID, now); err != nil {
		t.Fatal(err)
	}
}

// A token pasted into admin.token_env in place of a variable's name is not
// quoted by the admin commands' "no admin token" error, as config check
// does not show it either.
func TestNoAdminTokenErrorHidesPastedToken(t *testing.T) {
	t.Parallel()
	const pasted = "kQ7vTzP2mXc9LwR4"
	file := writeFile(t, "tagcast.yaml", "admin:\n  token_env: "+pasted+"\n")

	check := runTagcast(t, cliEnv{}, "config", "check", file)
	if strings.Contains(check.stdout+check.stderr, pasted) {
		t.Fatalf("precondition: config check shows the pasted value:\n%s", check)
	}
	for _, args := range [][]string{{"campaign", "list"}, {"quota", "status"}, {"campaign", "show", "1"}} {
		r := runTagcast(t, cliEnv{}, append([]string{"--config", file}, args...)...)
		if r.code != 1 {
			t.Errorf("%v: want exit 1:\n%s", args, r)
		}
		assertNoSecret(t, r, pasted)
	}
}
