package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// `campaign show ID -o json` reads every run a page of
// campaign.MaxRunsLimit (1000) runs at a time. A page is bounded in runs,
// not in bytes: a run is as large as its sends' bodies, and a push may carry
// 128 KB of message content (pushapi.MaxContentBytes). With 100 KB of
// content, 750 runs (12.5 hours of an every-minute cron) make the first
// 1000-run page ~77 MB, over the client's 64 MiB answer limit, so the
// command fails, although the same runs read in pages of 100 (--all --runs
// 100) are 7.7 MB a page. The server builds each such page in memory too.
func TestReviewS11cShowJSONPageOverClientLimit(t *testing.T) {
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
		t.Errorf("campaign show %s -o json on %d runs of ~100 KB (~%d MB in all): %s\nwant every run: pages of 1000 such runs are over the client's 64 MiB limit", m[1], n, n*100/1000, r)
	}
}
