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

// TestCampaignRetryAfterLostAnswer is the whole story of a retry whose
// answer is lost (found by a review): a proxy forwards `campaign retry
// --unknown` to the API, which re-opens both runs, and loses the answer.
// The CLI said "admin API unreachable", as if nothing had happened, and
// running the command again re-opened once more the run whose re-sent push
// had meanwhile stalled again (unknown): a third push that may duplicate
// two delivered ones. Now the error says the retry may have re-opened runs
// and names its key; run again with the key, it re-opens only what the
// first did not (a run that stalled since) and lists the others as
// re-opened earlier.
func TestCampaignRetryAfterLostAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := startAdmin(t)
	at := `{at: "` + adminT0.Add(time.Hour).Format(time.RFC3339) + `"}`
	file := strings.Replace(campaignFile("hourly"), at, `{cron: "0 * * * *"}`, 1)
	c, err := campaign.ParseFile([]byte(file), campaign.ValidateOptions{Now: adminT0, Apps: []string{"main"}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = a.store.Create(ctx, c, adminT0); err != nil {
		t.Fatal(err)
	}
	fire := func(at time.Time) int64 {
		t.Helper()
		runs, err := a.store.ClaimDue(ctx, at, at, 10, campaign.SimplePlan(time.Minute))
		if err != nil || len(runs) != 1 {
			t.Fatalf("ClaimDue at %s = %v, %v", at, runs, err)
		}
		settleRun(t, a.store, runs[0].ID, campaign.SendUnknown)
		return runs[0].ID
	}
	runs := []int64{fire(adminT0.Add(time.Hour)), fire(adminT0.Add(2 * time.Hour))}
	sendOf := func(runID int64) campaign.SendStatus {
		t.Helper()
		_, sends, err := a.store.GetRun(ctx, runID)
		if err != nil || len(sends) != 1 {
			t.Fatalf("run %d: %d sends, %v", runID, len(sends), err)
		}
		return sends[0].Status
	}

	tagcast := cliFor(t, losesFirstAnswer(t, a.url))
	r := tagcast("campaign", "retry", fmt.Sprint(c.ID), "--unknown")
	m := regexp.MustCompile(`run the same command again with --idempotency-key ([0-9a-f]{32})`).FindStringSubmatch(r.stderr)
	if r.code != 1 || m == nil || !strings.Contains(r.stderr, "no answer from the admin API") || !strings.Contains(r.stderr, "may have re-opened runs") {
		t.Fatalf("retry through a proxy that lost the answer: %s; want exit 1 saying the retry may have re-opened runs, naming the key", r)
	}
	if s0, s1 := sendOf(runs[0]), sendOf(runs[1]); s0 != campaign.SendPending || s1 != campaign.SendPending {
		t.Fatalf("after the lost answer: sends %s, %s; want both re-opened (the API did the retry)", s0, s1)
	}
	// The first run's re-sent push stalls again; a third run fires and
	// stalls.
	settleRun(t, a.store, runs[0], campaign.SendUnknown)
	runs = append(runs, fire(adminT0.Add(3*time.Hour)))

	r = tagcast("campaign", "retry", fmt.Sprint(c.ID), "--unknown", "--idempotency-key", m[1])
	for _, want := range []string{
		fmt.Sprintf("run %d: 1 send re-opened earlier under idempotency key %s (not re-opened again)", runs[0], m[1]),
		fmt.Sprintf("run %d: 1 send re-opened earlier", runs[1]),
		fmt.Sprintf("run %d: 1 send reset for sending\n", runs[2]),
		fmt.Sprintf("campaign %d: 1 send in 1 run will be sent again, including unknown sends, which may already have been delivered; this retry re-opened 2 runs more earlier (not re-opened again: `tagcast campaign show %d` says", c.ID, c.ID),
	} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("retry run again with the key: %s; want %q", r, want)
		}
	}
	if got := []campaign.SendStatus{sendOf(runs[0]), sendOf(runs[1]), sendOf(runs[2])}; got[0] != campaign.SendUnknown || got[1] != campaign.SendPending || got[2] != campaign.SendPending {
		t.Errorf("sends after the rerun with the key: %v; want [unknown pending pending] (run %d not re-opened a second time)", got, runs[0])
	}

	// Sent once more, nothing is left to re-open: it does not say that
	// anything will be sent (the walkthrough's 24 finished runs read "24
	// sends in 24 runs will be sent again").
	r = tagcast("campaign", "retry", fmt.Sprint(c.ID), "--unknown", "--idempotency-key", m[1])
	if want := fmt.Sprintf("campaign %d: nothing more re-opened; this retry re-opened 3 runs earlier", c.ID); r.code != 0 || !strings.Contains(r.stdout, want) || strings.Contains(r.stdout, "will be sent again") {
		t.Errorf("retry sent a third time under its key: %s; want %q and no \"will be sent again\"", r, want)
	}
	// -o json names the key and marks the earlier runs.
	r = tagcast("-o", "json", "campaign", "retry", fmt.Sprint(c.ID), "--unknown", "--idempotency-key", m[1])
	if r.code != 0 || !strings.Contains(r.stdout, `"idempotency_key": "`+m[1]+`"`) || !strings.Contains(r.stdout, `"earlier": true`) || !strings.Contains(r.stdout, `"replayed": true`) {
		t.Errorf("-o json, run again with the key: %s", r)
	}
	// The key of this retry for another one is refused, and a bad key is
	// a usage error.
	r = tagcast("campaign", "retry", fmt.Sprint(c.ID), "--idempotency-key", m[1])
	if r.code != 1 || !strings.Contains(r.stderr, "a new retry needs a new key") {
		t.Errorf("the key without --unknown (another retry): %s; want exit 1, refused", r)
	}
	r = tagcast("campaign", "retry", fmt.Sprint(c.ID), "--idempotency-key", "two words")
	if r.code != 2 || !strings.Contains(r.stderr, "--idempotency-key: must be 1 to 255 characters of visible ASCII") {
		t.Errorf("a key with a space: %s; want a usage error", r)
	}
}
