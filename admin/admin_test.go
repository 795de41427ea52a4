package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")

	if r := b.call(t, "GET", "/healthz", "", "", nil); r.status != 200 || !strings.Contains(r.body, `"ok"`) {
		t.Errorf("healthz without a token: %s", r)
	}
	tests := []struct {
		name, path, auth string
		status           int
		challenge        string
	}{
		{"missing", "/v1/campaigns", "", 401, `Bearer realm="tagcast-admin"`},
		{"wrong", "/v1/campaigns", "Bearer not-a-token", 401, `error="invalid_token"`},
		{"prefix of a token", "/v1/campaigns", "Bearer " + tokenA[:10], 401, `error="invalid_token"`},
		{"wrong scheme", "/v1/campaigns", "Basic " + tokenA, 401, `Bearer realm`},
		{"first token", "/v1/campaigns", "Bearer " + tokenA, 200, ""},
		{"second token", "/v1/campaigns", "bearer " + tokenB, 200, ""},
		{"readyz needs a token", "/readyz", "", 401, "Bearer"},
		{"metrics needs a token", "/metrics", "", 401, "Bearer"},
		{"unknown paths need a token", "/nope", "", 401, "Bearer"},
		{"unknown path", "/nope", "Bearer " + tokenA, 404, ""},
	}
	for _, tt := range tests {
		r := b.call(t, "GET", tt.path, tt.auth, "", nil)
		if r.status != tt.status {
			t.Errorf("%s: %s, want %d", tt.name, r, tt.status)
			continue
		}
		if got := strings.Join(r.header.Values("WWW-Authenticate"), " | "); tt.challenge != "" && !strings.Contains(got, tt.challenge) {
			t.Errorf("%s: WWW-Authenticate %q, want it to contain %q", tt.name, got, tt.challenge)
		}
		var body admin.ErrorBody
		if r.status != 200 && (json.Unmarshal([]byte(r.body), &body) != nil || body.Error == "" || r.header.Get("Content-Type") != "application/json; charset=utf-8") {
			t.Errorf("%s: error answer is not JSON: %s", tt.name, r)
		}
	}
	if r := b.call(t, "DELETE", "/v1/quota", "Bearer "+tokenA, "", nil); r.status != 405 || r.header.Get("Allow") != "GET" {
		t.Errorf("DELETE /v1/quota: %s Allow=%q, want 405 Allow GET", r, r.header.Get("Allow"))
	}
	// The client with a wrong token gets a typed 401.
	bad, err := admin.NewClient(b.url, "nope", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.ListCampaigns(b.ctx, admin.ListQuery{})
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("client with a wrong token: %v, want an APIError 401", err)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	big := strings.Repeat("#", admin.DefaultMaxBodyBytes+1)

	r := b.call(t, "POST", "/v1/campaigns", "Bearer "+tokenA, "application/yaml", strings.NewReader(big))
	if r.status != 413 || !strings.Contains(r.body, "limit") {
		t.Errorf("declared length over the limit: %s, want 413", r)
	}
	// A chunked body (no declared length) is cut off while it is read.
	r = b.call(t, "POST", "/v1/campaigns", "Bearer "+tokenA, "application/yaml", io.MultiReader(strings.NewReader(big)))
	if r.status != 413 {
		t.Errorf("chunked body over the limit: %s, want 413", r)
	}
	// Just under the limit is read (and then judged on its content).
	r = b.call(t, "POST", "/v1/campaigns", "Bearer "+tokenA, "application/yaml", strings.NewReader("#"+strings.Repeat(" ", admin.DefaultMaxBodyBytes-10)))
	if r.status != 400 {
		t.Errorf("body under the limit: %s, want 400 (empty campaign)", r)
	}
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	bad := `name: broken
app: nope
schedule: {cron: "61 * * * *", timezone: Mars/Olympus}
push:
  platform: [ios, windows]
  fromuserid: system
  message: {objectName: AppNote, content: hi}
  audience: {tag: [女]}
  notification: {alert: '{{.Vars.missing}}'}
`
	_, err := b.client.CreateCampaign(b.ctx, []byte(bad), "application/yaml")
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("invalid campaign: %v, want an APIError 400", err)
	}
	paths := map[string]bool{}
	for _, p := range ae.Problems {
		paths[p.Path] = true
		if p.Rule == "" {
			t.Errorf("problem %q has no rule", p.Path)
		}
	}
	for _, want := range []string{"app", "schedule.cron", "schedule.timezone", "push.platform[1]", "push.notification.alert"} {
		if !paths[want] {
			t.Errorf("no problem at %s; got %v", want, ae.Problems)
		}
	}

	// JSON bodies are files too; the same rules apply.
	js := `{"name": "j", "app": "main", "schedule": {"at": "2020-01-01T00:00:00Z"}, "push": {"platform": ["ios"], "fromuserid": "s", "message": {"objectName": "AppNote", "content": "hi"}, "audience": {"is_to_all": true}, "notification": {"alert": "hi"}}}`
	_, err = b.client.CreateCampaign(b.ctx, []byte(js), "application/json")
	if !errors.As(err, &ae) || ae.Status != 400 || len(ae.Problems) != 1 || ae.Problems[0].Path != "schedule.at" {
		t.Errorf("past at: %v, want one problem at schedule.at", err)
	}
	// Wrong media type.
	r := b.call(t, "POST", "/v1/campaigns", "Bearer "+tokenA, "text/plain", strings.NewReader(campaignYAML("x", t0.Add(time.Hour))))
	if r.status != 415 {
		t.Errorf("text/plain: %s, want 415", r)
	}
	// Bad query and path parameters name the parameter.
	for _, tt := range []struct{ path, param string }{
		{"/v1/campaigns?status=sleeping", "status"},
		{"/v1/campaigns?limit=0", "limit"},
		{"/v1/campaigns?limit=1001", "limit"},
		{"/v1/campaigns?after=-1", "after"},
		{"/v1/campaigns/abc", "id"},
	} {
		r := b.call(t, "GET", tt.path, "Bearer "+tokenA, "", nil)
		var body admin.ErrorBody
		_ = json.Unmarshal([]byte(r.body), &body)
		if r.status != 400 || len(body.Problems) != 1 || body.Problems[0].Path != tt.param {
			t.Errorf("GET %s: %s, want 400 with a problem at %s", tt.path, r, tt.param)
		}
	}
	list, err := b.client.ListCampaigns(b.ctx, admin.ListQuery{})
	if err != nil || len(list.Campaigns) != 0 {
		t.Errorf("after invalid creations: %v %v, want no campaign", list, err)
	}
}

func TestCampaignOperations(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			testCampaignOperations(t, setup(t, d.url(t)))
		})
	}
}

func testCampaignOperations(t *testing.T, b bundle) {
	ctx := b.ctx
	// Create: YAML and JSON.
	at := t0.Add(time.Hour)
	c1, err := b.client.CreateCampaign(ctx, []byte(campaignYAML("winter-sale", at)), "application/yaml")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if c1.ID == 0 || c1.Status != campaign.CampaignActive || c1.NextRunAt == nil || !c1.NextRunAt.Equal(at) || c1.Schedule.DeliverWithin != 2*time.Hour {
		t.Errorf("created campaign = %+v", c1)
	}
	ids := []int64{c1.ID}
	for i := range 4 {
		js := fmt.Sprintf(`{"name": "json-%d", "app": "main", "schedule": {"cron": "0 9 * * *", "timezone": "Asia/Shanghai"},
			"push": {"platform": ["android"], "fromuserid": "s", "message": {"objectName": "AppNote", "content": "hi"}, "audience": {"is_to_all": true}, "notification": {"alert": "hi"}}}`, i)
		c, err := b.client.CreateCampaign(ctx, []byte(js), "application/json; charset=utf-8")
		if err != nil {
			t.Fatalf("create json-%d: %v", i, err)
		}
		ids = append(ids, c.ID)
	}

	// List: filters and keyset paging.
	var seen []int64
	after := int64(0)
	for pages := 0; ; pages++ {
		page, err := b.client.ListCampaigns(ctx, admin.ListQuery{Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Campaigns {
			seen = append(seen, c.ID)
		}
		if page.NextAfter == 0 {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		after = page.NextAfter
	}
	if diff := cmp.Diff(ids, seen); diff != "" {
		t.Errorf("paged ids (-want +got):\n%s", diff)
	}
	page, err := b.client.ListCampaigns(ctx, admin.ListQuery{Name: "json-", Status: campaign.CampaignActive, App: "main"})
	if err != nil || len(page.Campaigns) != 4 {
		t.Errorf("filter by name: %d campaigns, %v; want 4", len(page.Campaigns), err)
	}
	if page, err := b.client.ListCampaigns(ctx, admin.ListQuery{App: "bad"}); err != nil || len(page.Campaigns) != 0 {
		t.Errorf("filter by app bad: %d campaigns, %v; want 0", len(page.Campaigns), err)
	}

	// Pause, illegal pause, resume, cancel, illegal resume.
	c, err := b.client.PauseCampaign(ctx, ids[1])
	if err != nil || c.Status != campaign.CampaignPaused {
		t.Fatalf("pause: %+v %v", c.Status, err)
	}
	if page, _ := b.client.ListCampaigns(ctx, admin.ListQuery{Status: campaign.CampaignPaused}); len(page.Campaigns) != 1 || page.Campaigns[0].ID != ids[1] {
		t.Errorf("filter by status paused: %+v", page)
	}
	wantStatus := func(err error, status int, what string) {
		t.Helper()
		var ae *admin.APIError
		if !errors.As(err, &ae) || ae.Status != status {
			t.Errorf("%s: %v, want HTTP %d", what, err, status)
		}
	}
	_, err = b.client.PauseCampaign(ctx, ids[1])
	wantStatus(err, 409, "pause a paused campaign")
	if c, err = b.client.ResumeCampaign(ctx, ids[1]); err != nil || c.Status != campaign.CampaignActive {
		t.Errorf("resume: %v %v", c.Status, err)
	}
	if cc, err := b.client.CancelCampaign(ctx, ids[1]); err != nil || cc.Status != campaign.CampaignCancelled || cc.NextRunAt != nil {
		t.Errorf("cancel: %v %v %v", cc.Status, cc.NextRunAt, err)
	}
	_, err = b.client.ResumeCampaign(ctx, ids[1])
	wantStatus(err, 409, "resume a cancelled campaign")
	_, err = b.client.PauseCampaign(ctx, 999999)
	wantStatus(err, 404, "pause a missing campaign")
	_, err = b.client.GetCampaign(ctx, 999999)
	wantStatus(err, 404, "show a missing campaign")
	_, err = b.client.RetryRun(ctx, 999999, false)
	wantStatus(err, 404, "retry a missing run")

	// A user-id campaign of 2,500 ids fires into 3 sends: sent, failed, unknown.
	users := make([]string, 2500)
	for i := range users {
		users[i] = fmt.Sprintf("u%04d", i)
	}
	js := fmt.Sprintf(`{"name": "users", "app": "main", "schedule": {"now": true},
		"push": {"platform": ["ios"], "fromuserid": "s", "message": {"objectName": "AppNote", "content": "hi"}, "audience": {"userid": ["%s"]}, "notification": {"alert": "hi"}}}`, strings.Join(users, `","`))
	cu, err := b.client.CreateCampaign(ctx, []byte(js), "application/json")
	if err != nil {
		t.Fatalf("create user-id campaign: %v", err)
	}
	runs := b.fire(t, t0)
	if len(runs) != 1 || runs[0].CampaignID != cu.ID {
		t.Fatalf("fired %+v, want one run of campaign %d", runs, cu.ID)
	}
	_, err = b.client.RetryCampaign(ctx, cu.ID, false)
	wantStatus(err, 409, "retry a campaign whose run is pending")
	b.settle(t, runs[0].ID, t0.Add(time.Minute), campaign.SendSent, campaign.SendFailed, campaign.SendUnknown)

	d, err := b.client.GetCampaign(ctx, cu.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Runs) != 1 || len(d.Runs[0].Sends) != 3 || d.Runs[0].Status != campaign.RunPartiallyFailed {
		t.Fatalf("show: %d runs, want 1 partially_failed with 3 sends: %+v", len(d.Runs), d.Runs)
	}
	s0 := d.Runs[0].Sends[0]
	if s0.Status != campaign.SendSent || s0.MessageUID != fmt.Sprintf("UID-%d", s0.ID) || s0.PushID == "" || s0.Attempts != 1 {
		t.Errorf("send 0 = %+v, want sent with its messageUID", s0)
	}
	if s1 := d.Runs[0].Sends[1]; s1.Status != campaign.SendFailed || s1.LastCode != 1002 {
		t.Errorf("send 1 = %s code %d, want failed 1002", s1.Status, s1.LastCode)
	}

	// Retry without unknown resets only the failed send; the run re-opens.
	res, err := b.client.RetryCampaign(ctx, cu.ID, false)
	if err != nil {
		t.Fatalf("retry campaign: %v", err)
	}
	if diff := cmp.Diff(admin.RetryResult{CampaignID: cu.ID, Runs: []admin.RunRetry{{RunID: runs[0].ID, Reset: 1}}, Reset: 1}, res); diff != "" {
		t.Errorf("retry result (-want +got):\n%s", diff)
	}
	d, _ = b.client.GetCampaign(ctx, cu.ID)
	got := []campaign.SendStatus{d.Runs[0].Sends[0].Status, d.Runs[0].Sends[1].Status, d.Runs[0].Sends[2].Status}
	if diff := cmp.Diff([]campaign.SendStatus{campaign.SendSent, campaign.SendPending, campaign.SendUnknown}, got); diff != "" || d.Runs[0].Status != campaign.RunPending {
		t.Errorf("after retry: run %s, sends (-want +got):\n%s", d.Runs[0].Status, diff)
	}
	_, err = b.client.RetryRun(ctx, runs[0].ID, true)
	wantStatus(err, 409, "retry a pending run")

	// Settle again: the retried send fails again. Retrying the run with
	// unknown resets both.
	b.settleRetried(t, runs[0].ID, t0.Add(2*time.Minute))
	_, err = b.client.RetryCampaign(ctx, cu.ID, false)
	if err != nil {
		t.Fatalf("second retry without unknown: %v", err)
	}
	b.settleRetried(t, runs[0].ID, t0.Add(3*time.Minute))
	res, err = b.client.RetryRun(ctx, runs[0].ID, true)
	if err != nil || res.Reset != 2 || !res.Unknown {
		t.Errorf("retry run with unknown: %+v %v, want 2 sends reset", res, err)
	}

	// Cancelled campaigns cannot be retried.
	if _, err := b.client.CancelCampaign(ctx, cu.ID); err != nil {
		t.Fatal(err)
	}
	_, err = b.client.RetryCampaign(ctx, cu.ID, true)
	wantStatus(err, 409, "retry a cancelled campaign")
	d, _ = b.client.GetCampaign(ctx, cu.ID)
	if d.Status != campaign.CampaignCancelled || d.Runs[0].Status != campaign.RunCancelled {
		t.Errorf("after cancel: campaign %s run %s, want both cancelled", d.Status, d.Runs[0].Status)
	}
}

// settleRetried fails every pending send of a re-opened run and finishes it.
func (b bundle) settleRetried(t *testing.T, runID int64, now time.Time) {
	t.Helper()
	if _, err := b.store.StartRun(b.ctx, runID, now); err != nil {
		t.Fatal(err)
	}
	_, sends, _ := b.store.GetRun(b.ctx, runID)
	for _, sd := range sends {
		if sd.Status != campaign.SendPending {
			continue
		}
		claimed, err := b.store.ClaimSend(b.ctx, sd.ID, now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.RecordOutcome(b.ctx, claimed.Token(), campaign.Outcome{Status: campaign.SendFailed, Code: 1002, At: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.store.FinishRun(b.ctx, runID, now); err != nil {
		t.Fatal(err)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	b := setup(t, dialects[0].url(t)) // postgres
	rep, err := b.client.Quota(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Apps) != 2 || rep.Apps[0].App != "main" || rep.Apps[1].App != "bad" {
		t.Fatalf("quota apps = %+v, want main and bad", rep.Apps)
	}
	m := rep.Apps[0]
	if m.Hour.Limit != 2 || m.Day.Limit != 3 || m.Hour.Used != 0 || m.Hour.Mode != "rolling" || m.Day.Mode != "calendar" || !m.At.Equal(t0) {
		t.Errorf("main quota = %+v", m)
	}
	if bad := rep.Apps[1]; bad.Hour.Limit != 5 || bad.Hour.Mode != "clock" {
		t.Errorf("bad quota = %+v", bad)
	}

	// A send recorded in the store is in the window (rebuilt from the ledger).
	if _, err := b.client.CreateCampaign(b.ctx, []byte(campaignYAML("q", t0.Add(time.Minute))), "application/yaml"); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Minute)
	runs := b.fire(t, t0.Add(time.Minute))
	b.settle(t, runs[0].ID, t0.Add(time.Minute), campaign.SendSent)
	b.redis.Flush(t)
	st, err := b.client.AppQuota(b.ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if st.Hour.Used != 1 || st.Hour.Remaining != 1 || st.Day.Used != 1 || !st.Rebuilt {
		t.Errorf("after one send: %+v, want 1 used in each window, rebuilt", st)
	}
	_, err = b.client.AppQuota(b.ctx, "nope")
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Status != 404 || !strings.Contains(ae.ErrorBody.Error, "main, bad") {
		t.Errorf("unknown app: %v, want 404 naming the configured apps", err)
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	ctx := b.ctx
	set, err := b.client.SetUserTags(ctx, "main", "u1", []string{"女", "北京"})
	if err != nil {
		t.Fatalf("set: %v", err)
	}
	if diff := cmp.Diff(admin.TagsSetResult{App: "main", UserIDs: []string{"u1"}, Tags: []string{"女", "北京"}}, set); diff != "" {
		t.Errorf("set (-want +got):\n%s", diff)
	}
	if _, err := b.client.BatchSetUserTags(ctx, "main", []string{"u2", "u3"}, []string{"男"}); err != nil {
		t.Fatalf("batch: %v", err)
	}
	got, err := b.client.GetUserTags(ctx, "main", []string{"u1", "u2", "u3", "u4"})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	want := map[string][]string{"u1": {"女", "北京"}, "u2": {"男"}, "u3": {"男"}, "u4": {}}
	if diff := cmp.Diff(want, got.Users); diff != "" {
		t.Errorf("get (-want +got):\n%s", diff)
	}
	// The emulator holds what the API forwarded.
	users := b.emu.Users("key-main")
	if len(users) != 3 {
		t.Errorf("emulator users = %+v, want 3", users)
	}

	var ae *admin.APIError
	// Validation: 400 with field paths, nothing forwarded.
	_, err = b.client.SetUserTags(ctx, "main", "u1", []string{"ok", "", strings.Repeat("x", 41)})
	if !errors.As(err, &ae) || ae.Status != 400 || len(ae.Problems) != 2 || ae.Problems[0].Path != "tags[1]" || ae.Problems[1].Path != "tags[2]" {
		t.Errorf("invalid tags: %v, want 400 at tags[1] and tags[2]", err)
	}
	_, err = b.client.GetUserTags(ctx, "main", nil)
	if !errors.As(err, &ae) || ae.Status != 400 || len(ae.Problems) != 1 || ae.Problems[0].Path != "user" {
		t.Errorf("get without users: %v, want 400 at user", err)
	}
	r := b.call(t, "POST", "/v1/apps/main/tags/batch", "Bearer "+tokenA, "application/json", strings.NewReader(`{"userIds": ["a"], "tag": ["x"]}`))
	if r.status != 400 || !strings.Contains(r.body, `"path":"tag"`) {
		t.Errorf("unknown key: %s, want 400 at tag", r)
	}
	// A body without tags would wipe the user's tags: refused; [] clears
	// them on purpose.
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/v1/apps/main/users/u1/tags", `{}`},
		{"PUT", "/v1/apps/main/users/u1/tags", `{"tags": null}`},
		{"POST", "/v1/apps/main/tags/batch", `{"userIds": ["u2"]}`},
	} {
		r := b.call(t, c.method, c.path, "Bearer "+tokenA, "application/json", strings.NewReader(c.body))
		if r.status != 400 || !strings.Contains(r.body, `"path":"tags"`) {
			t.Errorf("%s %s %s: %s, want 400 at tags", c.method, c.path, c.body, r)
		}
	}
	if got, err := b.client.GetUserTags(ctx, "main", []string{"u1", "u2"}); err != nil ||
		!cmp.Equal(got.Users, map[string][]string{"u1": {"女", "北京"}, "u2": {"男"}}) {
		t.Errorf("after the refused updates: %v %v, want the tags unchanged", got, err)
	}
	if _, err := b.client.SetUserTags(ctx, "main", "u1", nil); err != nil {
		t.Fatalf("clear: %v", err)
	}
	if got, err := b.client.GetUserTags(ctx, "main", []string{"u1"}); err != nil || len(got.Users["u1"]) != 0 {
		t.Errorf("after clearing: %v %v, want no tags", got, err)
	}
	// Unknown app: 404.
	_, err = b.client.SetUserTags(ctx, "nope", "u1", nil)
	if !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("unknown app: %v, want 404", err)
	}
	// The service refuses (wrong App Secret): 502 with the service's code.
	_, err = b.client.SetUserTags(ctx, "bad", "u1", []string{"x"})
	if !errors.As(err, &ae) || ae.Status != 502 || ae.ServiceCode != 1004 || ae.ServiceStatus != 401 {
		t.Errorf("service refusal: %v, want 502 with service code 1004", err)
	}
	// Only the six valid calls reached the service (set, batch, get; get,
	// clear, get): none of the refused ones.
	if n := b.emu.Counters("key-main"); n.TagCalls != 6 || n.BadRequest != 0 {
		t.Errorf("emulator counters for key-main = %+v, want 6 tag calls and no 400", n)
	}
	if n := b.emu.Counters("key-bad"); n.Unauthorized != 1 {
		t.Errorf("emulator counters for key-bad = %+v, want 1 unauthorized", n)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	rs, err := b.client.Ready(b.ctx)
	if err != nil || rs.Status != "ready" || rs.Checks["store"] != "ok" || rs.Checks["redis"] != "ok" {
		t.Fatalf("readyz = %+v, %v; want ready", rs, err)
	}
	b.redis.Kill(t)
	r := b.call(t, "GET", "/readyz", "Bearer "+tokenA, "", nil)
	var body admin.ReadyStatus
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.status != 503 {
		t.Fatalf("readyz with Redis down: %s", r)
	}
	if body.Status != "not ready" || body.Checks["store"] != "ok" || body.Checks["redis"] == "ok" || body.Checks["redis"] == "" {
		t.Errorf("readyz with Redis down = %+v", body)
	}
	// The process itself is still up.
	if r := b.call(t, "GET", "/healthz", "", "", nil); r.status != 200 {
		t.Errorf("healthz with Redis down: %s", r)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	b.probe.Add(3)
	_, _ = b.client.ListCampaigns(b.ctx, admin.ListQuery{})
	r := b.call(t, "GET", "/metrics", "Bearer "+tokenA, "", nil)
	if r.status != 200 {
		t.Fatalf("metrics: %s", r)
	}
	for _, want := range []string{"tagcast_test_probe_total 3", `tagcast_admin_requests_total{code="200",route="GET /v1/campaigns"} 1`, "tagcast_admin_request_duration_seconds_bucket"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("metrics lack %q:\n%s", want, r.body)
		}
	}
}

func TestMonitoringIsReadOnlyBehindAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	r := b.call(t, "GET", "/monitoring/", "", "", nil)
	if r.status != 401 || !strings.Contains(strings.Join(r.header.Values("WWW-Authenticate"), " "), "Basic") {
		t.Errorf("monitoring without credentials: %s %v, want 401 with a Basic challenge", r, r.header)
	}
	r = b.call(t, "GET", "/monitoring/", "Bearer "+tokenA, "", nil)
	if r.status != 200 || !strings.Contains(r.body, "<html") {
		t.Errorf("monitoring home with a token: HTTP %d, want the UI's HTML", r.status)
	}
	req, _ := http.NewRequestWithContext(b.ctx, "GET", b.url+"/monitoring/api/queues", nil)
	req.SetBasicAuth("operator", tokenB)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "queues") {
		t.Errorf("monitoring API with Basic credentials: HTTP %d %s", resp.StatusCode, body)
	}
	for _, m := range []string{"POST", "DELETE"} {
		r = b.call(t, m, "/monitoring/api/queues/default:pause", "Bearer "+tokenA, "", nil)
		if r.status != 405 {
			t.Errorf("%s on the monitoring UI: %s, want 405 (read-only)", m, r)
		}
	}
}

// An operator who types the monitoring URL without its trailing slash
// (http://host:8080/monitoring) in a browser must get the Basic login
// README describes, and, logged in, the redirect to /monitoring/; without
// credentials, or with a wrong token, it stays 401. Only /monitoring itself
// joins the Basic paths: a mere prefix match (/monitoringx) does not.
func TestMonitoringWithoutTrailingSlashOffersBrowserLogin(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	r := b.call(t, "GET", "/monitoring", "", "", nil)
	if got := strings.Join(r.header.Values("WWW-Authenticate"), " | "); r.status != 401 || !strings.Contains(got, "Basic") {
		t.Errorf("GET /monitoring without credentials: %s, WWW-Authenticate %q: want 401 with a Basic challenge so a browser can log in", r, got)
	}
	r = b.call(t, "GET", "/monitoringx", "", "", nil)
	if got := strings.Join(r.header.Values("WWW-Authenticate"), " | "); r.status != 401 || strings.Contains(got, "Basic") {
		t.Errorf("GET /monitoringx without credentials: %s, WWW-Authenticate %q: want 401 with the bearer challenge only", r, got)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		token    string
		status   int // 0: any redirect
		location string
	}{
		{tokenA, 0, "/monitoring/"},
		{"not-a-token", http.StatusUnauthorized, ""},
	} {
		req, _ := http.NewRequestWithContext(b.ctx, "GET", b.url+"/monitoring", nil)
		req.SetBasicAuth("operator", tc.token)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		status := resp.StatusCode
		if tc.status == 0 && status >= 300 && status < 400 {
			status = 0
		}
		if status != tc.status || resp.Header.Get("Location") != tc.location {
			t.Errorf("GET /monitoring with Basic password %q: HTTP %d, Location %q, %s; want HTTP %d (0: a redirect), Location %q",
				tc.token, resp.StatusCode, resp.Header.Get("Location"), body, tc.status, tc.location)
		}
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	srv, err := admin.New(admin.Options{
		Tokens: []string{tokenA}, Apps: []string{"main"}, Store: b.store,
		Operations: admin.StoreOperations{Store: b.store},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	c, _ := admin.NewClient("http://"+ln.Addr().String(), tokenA, nil)
	if _, err := c.ListCampaigns(context.Background(), admin.ListQuery{}); err != nil {
		t.Fatalf("list on the served API: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	_, err = c.ListCampaigns(context.Background(), admin.ListQuery{})
	var ue *admin.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("after shutdown: %v, want an UnreachableError", err)
	}

	// New refuses to run open.
	if _, err := admin.New(admin.Options{Apps: []string{"main"}, Store: b.store, Operations: admin.StoreOperations{Store: b.store}}); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("New without tokens: %v, want an error about tokens", err)
	}
}
