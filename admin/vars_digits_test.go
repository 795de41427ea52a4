package admin_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/admin"
)

// The server stores and answers a
// campaign's vars with every digit (the store reads them as json.Number;
// campaign/file.go: "vars keep 9007199254740993"), and so does the Go
// client. Was: it decoded every answer with plain json.Unmarshal, a var
// beyond 2^53 came back as a float64 rounded to another number, and
// `campaign create`, `list` and `show -o json` printed 9007199254740992,
// not the value stored and sent (found by a review).
func TestClientKeepsEveryDigitOfVars(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	js := fmt.Sprintf(`{"name": "digits", "app": "main", "schedule": {"at": %q}, "vars": {"order": 9007199254740993},
		"push": {"platform": ["android"], "fromuserid": "s", "message": {"objectName": "AppNote", "content": "hi"},
		"audience": {"is_to_all": true}, "notification": {"alert": "order {{.Vars.order}}"}}}`, t0.Add(time.Hour).Format(time.RFC3339))
	const want = `{"order":9007199254740993}`

	created, err := b.client.CreateCampaign(b.ctx, []byte(js), "application/json")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	raw := b.call(t, "GET", fmt.Sprintf("/v1/campaigns/%d", created.ID), "Bearer "+tokenA, "", nil)
	if !strings.Contains(raw.body, `"vars":`+want) {
		t.Fatalf("the server's answer does not hold the var as stored (test premise): %s", raw)
	}
	shown, err := b.client.GetCampaign(b.ctx, created.ID)
	if err != nil {
		t.Fatalf("show: %v", err)
	}
	page, err := b.client.ListCampaigns(b.ctx, admin.ListQuery{})
	if err != nil || len(page.Campaigns) != 1 {
		t.Fatalf("list: %+v %v", page, err)
	}
	for what, vars := range map[string]map[string]any{
		"CreateCampaign": created.Vars, "GetCampaign": shown.Vars, "ListCampaigns": page.Campaigns[0].Vars,
	} {
		got, err := json.Marshal(vars)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s: vars re-encoded as %s, want %s (the server answered %s)", what, got, want, want)
		}
	}
}
