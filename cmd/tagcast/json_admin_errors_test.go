package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// With --output json an admin API refusal is JSON on stdout with the
// API's HTTP status and every problem it listed. adminFailed used to reword
// the API's error without keeping it, so the JSON had neither (found by a
// review).
func TestOutputJSONOfAnAdminRefusal(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	file := writeFile(t, "bad.yaml", `name: ""
app: nope
schedule: {cron: "0 9 * * *", timezone: Mars/Olympus, missed: sometimes}
push: {platform: [web], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {tag: [x]}, notification: {alert: hi}}
`)
	var rep map[string]any
	r := a.tagcast(t, "-o", "json", "campaign", "create", file)
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
		t.Fatalf("campaign create -o json (invalid): exit %d, stdout not JSON (%v):\n%s", r.code, err, r)
	}
	if _, ok := rep["status"]; !ok {
		t.Errorf("campaign create -o json refused by the admin API (400): no \"status\" in %s", strings.TrimSpace(r.stdout))
	}
	if ps, _ := rep["problems"].([]any); len(ps) != 5 {
		t.Errorf("campaign create -o json: %d problems in the JSON report, want the 5 the API returned (stderr has them):\n%s", len(ps), r)
	}

	rep = nil
	r = a.tagcast(t, "-o", "json", "campaign", "show", "999")
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
		t.Fatalf("campaign show 999 -o json: exit %d, stdout not JSON (%v):\n%s", r.code, err, r)
	}
	if st, _ := rep["status"].(float64); st != 404 {
		t.Errorf("campaign show 999 -o json: status %v, want 404: %s", rep["status"], strings.TrimSpace(r.stdout))
	}
}
