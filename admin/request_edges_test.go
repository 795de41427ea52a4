package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
)

// A proxy in front of the API that redirects (http → https, a moved host, a
// non-clean path) turns the client's POST into a GET: Go's http.Client follows
// 301/302/303 with GET and no body. GET /v1/campaigns is a real endpoint, so
// CreateCampaign used to decode a CampaignPage into a Campaign and report
// success with id 0 while nothing was created. The client now answers a
// redirect with an error and follows none (found by a review).
func TestClientDoesNotFollowARedirect(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, b.url+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	t.Cleanup(front.Close)
	c, err := admin.NewClient(front.URL, tokenB, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.CreateCampaign(b.ctx, []byte(campaignYAML("redirected", t0.Add(time.Hour))), "application/yaml")
	page, lerr := b.client.ListCampaigns(b.ctx, admin.ListQuery{})
	if lerr != nil {
		t.Fatal(lerr)
	}
	if err == nil {
		t.Errorf("CreateCampaign through a 301 answered no error, campaign id %d name %q; campaigns stored: %d (the POST became a GET of the list)",
			got.ID, got.Name, len(page.Campaigns))
	}
}

// JSON bodies of the tag endpoints: encoding/json turns invalid UTF-8 into
// U+FFFD in silence, so a Latin-1 tag was forwarded to the service as
// "caf\uFFFD" and replaced the user's tags with garbage, answered 200; such
// a body is now a 400 (found by a review).
func TestTagBodyWithInvalidUTF8IsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	r := b.call(t, "PUT", "/v1/apps/main/users/u1/tags", "Bearer "+tokenA, "application/json",
		strings.NewReader("{\"tags\": [\"caf\xe9\"]}"))
	var stored []string
	for _, u := range b.emu.Users("key-main") {
		if u.ID == "u1" {
			stored = u.Tags
		}
	}
	if r.status != 400 {
		t.Errorf("tags with invalid UTF-8: %s; the service now holds %q for u1; want 400 naming tags[0]", r, stored)
	}
}

// The campaign file refuses a key given twice (campaign.decodeFile); the tag
// endpoints kept the last in silence, so a body whose second userIds was
// meant to be another field replaced the tags of users nobody listed first.
// A key given twice is now a 400 naming it (found by a review).
func TestTagBodyWithADuplicateKeyIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	r := b.call(t, "POST", "/v1/apps/main/tags/batch", "Bearer "+tokenA, "application/json",
		strings.NewReader(`{"userIds": ["u1"], "tags": ["vip"], "userIds": ["u2", "u3"]}`))
	if r.status != 400 {
		t.Errorf("a key given twice: %s; want 400 naming userIds (as campaign files do)", r)
	}
}

// Unknown query parameters were ignored: a misspelt filter listed every
// campaign, a misspelt ?unknown= retried without the unknown sends. The
// list and the retries now refuse them, as bodies refuse unknown keys.
func TestUnknownQueryParameterIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	c, err := b.client.CreateCampaign(b.ctx, []byte(campaignYAML("a", t0.Add(time.Hour))), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.PauseCampaign(b.ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.CreateCampaign(b.ctx, []byte(campaignYAML("b", t0.Add(time.Hour))), "application/yaml"); err != nil {
		t.Fatal(err)
	}
	r := b.call(t, "GET", "/v1/campaigns?stauts=paused", "Bearer "+tokenA, "", nil)
	var page admin.CampaignPage
	_ = json.Unmarshal([]byte(r.body), &page)
	if r.status != 400 {
		t.Errorf("GET /v1/campaigns?stauts=paused: HTTP %d with %d campaigns (unfiltered); want 400 naming stauts", r.status, len(page.Campaigns))
	}
}

// Pause, cancel and retry of one campaign at once, on PostgreSQL: after the
// dust settles a cancelled campaign has no pending send and no pending run.
func TestConcurrentPauseCancelRetryLeaveNoPendingSendOfACancelledCampaign(t *testing.T) {
	t.Parallel()
	b := setup(t, dialects[0].url(t))
	for i := range 8 {
		at := t0.Add(time.Duration(i+1) * time.Minute)
		c, err := b.client.CreateCampaign(b.ctx, []byte(campaignYAML(fmt.Sprintf("c%d", i), at)), "application/yaml")
		if err != nil {
			t.Fatal(err)
		}
		runs := b.fire(t, at)
		if len(runs) != 1 {
			t.Fatalf("runs %d", len(runs))
		}
		b.settle(t, runs[0].ID, at, campaign.SendFailed)
		var wg sync.WaitGroup
		for _, op := range []func(){
			func() { _, _ = b.client.RetryCampaign(b.ctx, c.ID, false) },
			func() { _, _ = b.client.CancelCampaign(b.ctx, c.ID) },
			func() { _, _ = b.client.PauseCampaign(b.ctx, c.ID) },
			func() { _, _ = b.client.RetryRun(b.ctx, runs[0].ID, true) },
		} {
			wg.Go(op)
		}
		wg.Wait()
		d, err := b.client.GetCampaign(b.ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != campaign.CampaignCancelled {
			t.Fatalf("campaign %d ended %s", c.ID, d.Status)
		}
		for _, run := range d.Runs {
			for _, sd := range run.Sends {
				if sd.Status == campaign.SendPending {
					t.Errorf("cancelled campaign %d: run %d (%s) send %d is pending", c.ID, run.ID, run.Status, sd.ID)
				}
			}
		}
	}
}

// PUT refuses a user id that is not UTF-8 (pushapi: "userId: must be valid
// UTF-8 text"); GET did not (ValidateGetUserTags skipped the check, and the
// answer's key was the JSON encoder's U+FFFD, not the user asked for). Both
// refuse it now.
func TestGetTagsRefusesAUserIDThatIsNotUTF8(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	r := b.call(t, "GET", "/v1/apps/main/tags?user=%ff", "Bearer "+tokenA, "", nil)
	if r.status != 400 || !strings.Contains(r.body, `"path":"user`) {
		t.Errorf("GET /v1/apps/main/tags?user=%%ff: %s; want 400 naming user (as PUT .../users/%%ff/tags answers for userId)", r)
	}
}

// "400 invalid input (every problem with its field path)" (api/openapi.yaml):
// a retry with a bad id and a bad ?unknown= named only the id; it names both.
func TestRetryNamesEveryBadParameter(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	r := b.call(t, "POST", "/v1/runs/x/retry?unknown=maybe", "Bearer "+tokenA, "", nil)
	if r.status != 400 || !strings.Contains(r.body, `"path":"id"`) || !strings.Contains(r.body, `"path":"unknown"`) {
		t.Errorf("POST /v1/runs/x/retry?unknown=maybe: %s; want 400 naming id and unknown", r)
	}
}
