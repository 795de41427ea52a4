package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
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
	content := strings.Repeat("Winter sale ", 100*1024/12)
	const n = 750
	id, _ := manyRunsCampaign(t, a, content, n)
	sid := fmt.Sprint(id)

	r := a.tagcast(t, "-o", "json", "campaign", "show", sid)
	if r.code != 0 {
		if len(r.stdout) > 2000 {
			r.stdout = r.stdout[:2000] + "..."
		}
		t.Fatalf("campaign show %s -o json on %d runs of ~100 KB (~%d MB in all): %s\nwant every run: pages of 1000 such runs are over the client's 64 MiB limit", sid, n, n*100/1000, r)
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
