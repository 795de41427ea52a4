package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/quota"
)

// A block after a 429/1008 closes every window until it ends: `quota
// status` shows it in the rows (no slot remaining, next opening at the
// block's end), not only in a line under a table that said "1 remaining,
// now" (operator walkthrough).
func TestQuotaStatusRowsShowABlock(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 28, 0, 6, 0, 0, time.UTC)
	until := at.Add(time.Hour)
	st := quota.Status{
		App: "main", At: at, Timezone: "Asia/Shanghai", BlockedUntil: until, NextOpening: until,
		Hour: quota.WindowStatus{Mode: "rolling", Limit: 2, Used: 1, Remaining: 1, NextOpening: at},
		Day:  quota.WindowStatus{Mode: "calendar", Limit: 3, Used: 1, Remaining: 2, NextOpening: at},
	}
	var b bytes.Buffer
	if err := printQuota(&b, []quota.Status{st}); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(b.String(), "\n") {
		if f := strings.Fields(line); len(f) < 2 || f[0] != "main" || (f[1] != "hour" && f[1] != "day") {
			continue
		}
		rows++
		if !strings.Contains(line, "0 (blocked)") || !strings.Contains(line, until.Format(time.RFC3339)) || strings.Contains(line, " now ") {
			t.Errorf("row %q: want no slot remaining and the block's end as the next opening", line)
		}
	}
	if rows != 2 {
		t.Fatalf("%d window rows, want 2:\n%s", rows, b.String())
	}
	st.BlockedUntil = time.Time{}
	b.Reset()
	if err := printQuota(&b, []quota.Status{st}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "blocked") {
		t.Errorf("no block, yet:\n%s", b.String())
	}
}
