package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// pendingRunCampaign creates examples/user-id-campaign.yaml (2500 user ids,
// sent now) through the CLI and fires it in the store: its run is pending
// with 3 pending sends. It returns the campaign's id and the run's id.
func pendingRunCampaign(t *testing.T, a *adminServer) (int64, int64) {
	t.Helper()
	r := a.tagcast(t, "campaign", "create", examplePath("user-id-campaign.yaml"))
	m := regexp.MustCompile(`^campaign (\d+) created: `).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("create: %s", r)
	}
	var id int64
	_, _ = fmt.Sscan(m[1], &id)
	runs, err := a.store.ClaimDue(t.Context(), adminT0, adminT0, 10, campaign.SimplePlan(time.Minute))
	if err != nil || len(runs) != 1 || runs[0].CampaignID != id {
		t.Fatalf("ClaimDue = %v, %v; want one run of campaign %d", runs, err, id)
	}
	run, sends, err := a.store.GetRun(t.Context(), runs[0].ID)
	if err != nil || run.Status != campaign.RunPending || len(sends) != 3 {
		t.Fatalf("run %d: %s with %d sends (err %v); want pending with 3", runs[0].ID, run.Status, len(sends), err)
	}
	return id, run.ID
}

// wantAllCancelled checks that the cancel cancelled the run and its sends.
func wantAllCancelled(t *testing.T, a *adminServer, runID int64) {
	t.Helper()
	run, sends, err := a.store.GetRun(t.Context(), runID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != campaign.RunCancelled {
		t.Errorf("run %d: %s, want cancelled", runID, run.Status)
	}
	for _, sd := range sends {
		if sd.Status != campaign.SendCancelled {
			t.Errorf("send %d: %s, want cancelled", sd.ID, sd.Status)
		}
	}
}

// TestCampaignCancelSaysWhatItCancelled: `campaign cancel` tells the
// operator what the cancel did, counted by the store in the cancel's own
// transaction: the runs and unsent sends it cancelled, in text and (as
// added fields, every campaign field kept) in JSON.
func TestCampaignCancelSaysWhatItCancelled(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)

	id, runID := pendingRunCampaign(t, a)
	r := a.tagcast(t, "campaign", "cancel", fmt.Sprint(id))
	want := fmt.Sprintf("campaign %d (beta-invitation): cancelled, next run -; 1 run and 3 unsent sends cancelled\n", id)
	if r.code != 0 || r.stdout != want {
		t.Errorf("cancel: %s\nwant stdout %q", r, want)
	}
	wantAllCancelled(t, a, runID)

	// Cancelled again: refused, nothing more cancelled.
	if r = a.tagcast(t, "campaign", "cancel", fmt.Sprint(id)); r.code != 1 {
		t.Errorf("cancel twice: %s, want exit 1", r)
	}

	id, runID = pendingRunCampaign(t, a)
	r = a.tagcast(t, "-o", "json", "campaign", "cancel", fmt.Sprint(id))
	if r.code != 0 {
		t.Fatalf("cancel -o json: %s", r)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("cancel -o json: %v\n%s", err, r.stdout)
	}
	for _, field := range []string{"id", "app", "name", "push", "schedule", "status", "created_at", "updated_at"} {
		if _, ok := got[field]; !ok {
			t.Errorf("cancel -o json lacks the campaign's %q: %s", field, r.stdout)
		}
	}
	if _, ok := got["next_run_at"]; ok {
		t.Errorf("cancel -o json has a next_run_at: %s", r.stdout)
	}
	if got["id"] != float64(id) || got["status"] != "cancelled" || got["name"] != "beta-invitation" {
		t.Errorf("cancel -o json: id %v, status %v, name %v; want %d, cancelled, beta-invitation", got["id"], got["status"], got["name"], id)
	}
	if got["cancelled_runs"] != float64(1) || got["cancelled_sends"] != float64(3) {
		t.Errorf("cancel -o json: cancelled_runs %v, cancelled_sends %v; want 1 and 3:\n%s", got["cancelled_runs"], got["cancelled_sends"], r.stdout)
	}
	var c campaign.Campaign
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || c.ID != id || c.Status != campaign.CampaignCancelled {
		t.Errorf("cancel -o json as a campaign: %+v (err %v)", c, err)
	}
	wantAllCancelled(t, a, runID)
}
