package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// showRuns is the run count of a campaign `campaign show` pages through:
// more than the default page (20), more than the largest (1000).
const showRuns = 2500

// manyRunsCampaign creates a campaign of message content through the CLI,
// fires it once, and adds n-1 settled runs (one sent send each, a copy of
// the first run's; the newest failed) to the SQLite store. It returns the
// campaign's id and the fired run's id.
func manyRunsCampaign(t *testing.T, a *adminServer, content string, n int) (int64, int64) {
	t.Helper()
	ctx := context.Background()
	file := writeFile(t, "busy.yaml", fmt.Sprintf(`name: busy
app: main
schedule: {now: true}
push: {platform: [ios], fromuserid: system, message: {objectName: AppNote, content: %q}, audience: {tag: [vip]}, notification: {alert: hi}}
`, content))
	r := a.tagcast(t, "campaign", "create", file)
	m := regexp.MustCompile(`^campaign (\d+) created: `).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("create: %s", r)
	}
	var id int64
	_, _ = fmt.Sscan(m[1], &id)
	runs, err := a.store.ClaimDue(ctx, adminT0, adminT0, 10, campaign.SimplePlan(time.Minute))
	if err != nil || len(runs) != 1 {
		t.Fatalf("ClaimDue = %v, %v", runs, err)
	}
	db := a.store.DB()
	// Instants are Unix microseconds in the SQLite schema: a run a minute.
	if _, err := db.ExecContext(ctx, `
		WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)
		INSERT INTO runs (campaign_id, app, scheduled_for, status, deliver_by, enqueued_at, retries, error, created_at, updated_at, finished_at)
		SELECT r.campaign_id, r.app, r.scheduled_for + n * 60000000, CASE WHEN n = ? THEN 'failed' ELSE 'done' END,
		       r.deliver_by + n * 60000000, r.scheduled_for + n * 60000000, 0, '', r.created_at, r.updated_at, r.scheduled_for + n * 60000000
		FROM runs r, g WHERE r.id = ?`, n-1, n-1, runs[0].ID); err != nil {
		t.Fatalf("insert runs: %v", err)
	}
	if _, err := db.ExecContext(ctx, `
		INSERT INTO sends (run_id, campaign_id, app, idx, body, status, attempts, claim, sent_at, push_id, message_uid, last_code, created_at, updated_at)
		SELECT r.id, r.campaign_id, r.app, 0, b.body, 'sent', 1, 1, r.scheduled_for, 'push-' || r.id, 'UID-' || r.id, 200, r.created_at, r.updated_at
		FROM runs r, (SELECT body FROM sends WHERE run_id = ?) b WHERE r.campaign_id = ? AND r.id <> ?`, runs[0].ID, id, runs[0].ID); err != nil {
		t.Fatalf("insert sends: %v", err)
	}
	return id, runs[0].ID
}

// `campaign show` on a campaign of many runs prints the counts of every
// run and the newest page, with the cursor of the next; --all reads every
// run into one JSON answer; `campaign retry --run` checks the run's
// campaign without reading the campaign's runs.
func TestCampaignShowManyRuns(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	id, firstRun := manyRunsCampaign(t, a, "hi", showRuns)
	sid := fmt.Sprint(id)

	r := a.tagcast(t, "campaign", "show", sid)
	if r.code != 0 {
		t.Fatalf("show: %s", r)
	}
	for _, want := range []string{"runs      2500 runs: 1 pending, 2498 done, 1 failed\n", "RUNS (20 runs, newest first)", "UID-"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r.stdout)
		}
	}
	runLine := regexp.MustCompile(`(?m)^(\d+)\s+\d{4}-\d\d-\d\dT\S+\s+(done|failed|pending)\s`)
	lines := runLine.FindAllStringSubmatch(r.stdout, -1)
	if len(lines) != 20 || lines[0][2] != "failed" {
		t.Fatalf("show: %d run lines, the first %v; want the newest 20, the failed one first:\n%s", len(lines), lines[0], r.stdout)
	}
	more := regexp.MustCompile(`more: --before (\d+)\n$`).FindStringSubmatch(r.stdout)
	if more == nil || more[1] != lines[19][1] {
		t.Fatalf("show ends without \"more: --before\" the page's oldest run (%s):\n%s", lines[19][1], r.stdout)
	}

	r = a.tagcast(t, "campaign", "show", sid, "--runs", "5", "--before", more[1])
	lines = runLine.FindAllStringSubmatch(r.stdout, -1)
	if r.code != 0 || len(lines) != 5 || atoi(t, lines[0][1]) >= atoi(t, more[1]) {
		t.Errorf("show --runs 5 --before %s: %d run lines; want the 5 runs before it: %s", more[1], len(lines), r)
	}

	r = a.tagcast(t, "-o", "json", "campaign", "show", sid, "--all")
	var d campaign.Detail
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || r.code != 0 {
		t.Fatalf("show --all -o json: not one JSON object: %v\n%s", err, r)
	}
	seen := map[int64]bool{}
	for i, run := range d.Runs {
		seen[run.ID] = true
		if i > 0 && run.ID >= d.Runs[i-1].ID {
			t.Fatalf("show --all: runs %d then %d; want newest first", d.Runs[i-1].ID, run.ID)
		}
	}
	if len(d.Runs) != showRuns || len(seen) != showRuns || d.RunsNext != 0 || d.RunCounts[campaign.RunDone] != showRuns-2 {
		t.Errorf("show --all: %d runs (%d distinct), next %d, counts %v; want all %d, no next", len(d.Runs), len(seen), d.RunsNext, d.RunCounts, showRuns)
	}

	// The JSON answer is every run (DESIGN: "includes every run and
	// send"), unless a page is asked for.
	r = a.tagcast(t, "-o", "json", "campaign", "show", sid)
	d = campaign.Detail{}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || len(d.Runs) != showRuns || d.RunsNext != 0 {
		t.Errorf("show -o json: %v, %d runs, next %d; want all %d, no cursor", err, len(d.Runs), d.RunsNext, showRuns)
	}
	r = a.tagcast(t, "-o", "json", "campaign", "show", sid, "--runs", "20")
	d = campaign.Detail{}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || len(d.Runs) != 20 || d.RunsNext == 0 {
		t.Errorf("show -o json --runs 20: %v, %d runs, next %d; want the newest 20 and a cursor", err, len(d.Runs), d.RunsNext)
	}

	for _, args := range [][]string{{"--runs", "0"}, {"--runs", "1001"}, {"--all", "--before", "5"}, {"--before", "-1"}} {
		if r := a.tagcast(t, append([]string{"campaign", "show", sid}, args...)...); r.code != 2 {
			t.Errorf("show %v: %s; want exit 2", args, r)
		}
	}

	// retry --run: the run is the campaign's (the server then finds nothing
	// to retry in a pending run); another campaign's run is refused.
	if r := a.tagcast(t, "campaign", "retry", sid, "--run", fmt.Sprint(firstRun)); r.code != 1 || strings.Contains(r.stderr, "not a run of") || !strings.Contains(r.stderr, "HTTP 409") {
		t.Errorf("retry --run of its own pending run: %s; want the server's 409", r)
	}
	if r := a.tagcast(t, "campaign", "retry", "999", "--run", fmt.Sprint(firstRun)); r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("run %d is not a run of campaign 999 (campaign 999: not found)", firstRun)) {
		t.Errorf("retry --run on a missing campaign: %s", r)
	}
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
