package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// TestCampaignShowJSONReadsLargeRunsUnderClientLimit guards the byte
// budget of a page of runs (campaign.MaxRunsPageBytes). A review found
// that `campaign show ID -o json`, which reads every run a page of
// campaign.MaxRunsLimit (1000) runs at a time, failed on a campaign whose
// runs are large: a page was bounded in runs, not bytes, a run is as large
// as its sends' bodies, and a push may carry 128 KB of content. With 100
// KB of content, 750 runs (12.5 hours of an every-minute cron) made the
// first 1000-run page ~77 MB, over the client's 64 MiB answer limit ("the
// answer is over the client's limit of 64 MiB"), and the server built it
// in memory. Now a page stops at the budget with runs_next set, and the
// command reads every run, newest first, each with its send.
func TestCampaignShowJSONReadsLargeRunsUnderClientLimit(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	ctx := context.Background()
	content := strings.Repeat("Winter sale ", 100*1024/12)
	file := writeFile(t, "big.yaml", fmt.Sprintf(`name: big-content
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
	runs, err := a.store.ClaimDue(ctx, adminT0, 10, campaign.SimplePlan(time.Minute))
	if err != nil || len(runs) != 1 {
		t.Fatalf("ClaimDue = %v, %v", runs, err)
	}
	// 749 more runs, each with a copy of the first run's ~100 KB send,
	// written directly (rendering them through the store takes longer).
	const n = 750
	db := a.store.DB()
	if _, err := db.ExecContext(ctx, `
		WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)
		INSERT INTO runs (campaign_id, app, scheduled_for, status, deliver_by, enqueued_at, retries, error, created_at, updated_at, finished_at)
		SELECT r.campaign_id, r.app, r.scheduled_for + n * 60000000, 'done',
		       r.deliver_by + n * 60000000, r.scheduled_for + n * 60000000, 0, '', r.created_at, r.updated_at, r.scheduled_for + n * 60000000
		FROM runs r, g WHERE r.id = ?`, n-1, runs[0].ID); err != nil {
		t.Fatalf("insert runs: %v", err)
	}
	if _, err := db.ExecContext(ctx, `
		INSERT INTO sends (run_id, campaign_id, app, idx, body, status, attempts, claim, sent_at, push_id, message_uid, last_code, created_at, updated_at)
		SELECT r.id, r.campaign_id, r.app, 0, b.body, 'sent', 1, 1, r.scheduled_for, 'push-' || r.id, 'UID-' || r.id, 200, r.created_at, r.updated_at
		FROM runs r, (SELECT body FROM sends WHERE run_id = ?) b WHERE r.campaign_id = ? AND r.id <> ?`, runs[0].ID, id, runs[0].ID); err != nil {
		t.Fatalf("insert sends: %v", err)
	}

	r = a.tagcast(t, "-o", "json", "campaign", "show", m[1])
	if r.code != 0 {
		if len(r.stdout) > 2000 {
			r.stdout = r.stdout[:2000] + "..."
		}
		t.Fatalf("campaign show %s -o json on %d runs of ~100 KB (~%d MB in all): %s\nwant every run: pages of 1000 such runs are over the client's 64 MiB limit", m[1], n, n*100/1000, r)
	}
	var got struct {
		Runs []struct {
			ID    int64 `json:"id"`
			Sends []struct {
				RunID int64 `json:"run_id"`
				Body  struct {
					Message struct {
						Content string `json:"content"`
					} `json:"message"`
				} `json:"body"`
			} `json:"sends"`
		} `json:"runs"`
		RunsNext int64 `json:"runs_next"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("campaign show -o json: %v", err)
	}
	if len(got.Runs) != n || got.RunsNext != 0 {
		t.Fatalf("campaign show -o json: %d runs, runs_next %d; want all %d, no next", len(got.Runs), got.RunsNext, n)
	}
	for i, run := range got.Runs {
		if i > 0 && run.ID >= got.Runs[i-1].ID {
			t.Fatalf("run %d after run %d: want the runs newest first, each once", run.ID, got.Runs[i-1].ID)
		}
		if len(run.Sends) != 1 || run.Sends[0].RunID != run.ID || run.Sends[0].Body.Message.Content != content {
			t.Fatalf("run %d: %d sends; want its one send with the content", run.ID, len(run.Sends))
		}
	}
}
