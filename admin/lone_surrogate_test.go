package admin_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// TestLoneSurrogateEscapeIsRefused: the tag endpoints refuse a
// body with invalid UTF-8 because encoding/json would turn it into U+FFFD
// and the service would get other tags than those sent
// (TestTagBodyWithInvalidUTF8IsRefused); a YAML campaign file refuses it
// too. A JSON escape of a lone UTF-16 surrogate ("\ud83c": what
// JavaScript's JSON.stringify writes for a string cut in the middle of an
// emoji) is valid UTF-8 text, and encoding/json turns it into U+FFFD in the
// same silence: the user's tags are replaced by "vip-\uFFFD", and a JSON
// campaign is stored to push to a tag nobody has, spending a third of the
// day's quota on nobody, where the same file in YAML is a 400.
func TestLoneSurrogateEscapeIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	auth := "Bearer " + tokenA
	for _, tc := range []struct{ method, path, body, user string }{
		{"PUT", "/v1/apps/main/users/u1/tags", `{"tags": ["vip-\ud83c"]}`, "u1"},
		{"POST", "/v1/apps/main/tags/batch", `{"userIds": ["u2"], "tags": ["vip-\ud83c"]}`, "u2"},
	} {
		r := b.call(t, tc.method, tc.path, auth, "application/json", strings.NewReader(tc.body))
		if r.status != 400 || len(b.userTags(tc.user)) != 0 {
			t.Errorf("%s %s %s: HTTP %d, the service now holds %q for %s; want 400 naming tags[0], nothing forwarded (a lone surrogate is no character)",
				tc.method, tc.path, tc.body, r.status, b.userTags(tc.user), tc.user)
		}
	}

	at := t0.Add(time.Hour).Format(time.RFC3339)
	yamlFile := `name: lone
app: main
schedule: {at: "` + at + `"}
push:
  platform: [ios]
  fromuserid: system
  audience: {tag: ["vip-\ud83c"]}
  message: {objectName: AppNote, content: hi}
  notification: {alert: hi}
`
	if r := b.call(t, "POST", "/v1/campaigns", auth, "application/yaml", strings.NewReader(yamlFile)); r.status != 400 {
		t.Fatalf("the YAML file: %s; want 400", r)
	}
	jsonFile := `{"name": "lone", "app": "main", "schedule": {"at": "` + at + `"},
	"push": {"platform": ["ios"], "fromuserid": "system", "audience": {"tag": ["vip-\ud83c"]},
	"message": {"objectName": "AppNote", "content": "hi"}, "notification": {"alert": "hi"}}}`
	r := b.call(t, "POST", "/v1/campaigns", auth, "application/json", strings.NewReader(jsonFile))
	if r.status != 400 {
		var c campaign.Campaign
		_ = json.Unmarshal([]byte(r.body), &c)
		t.Errorf("the same campaign as JSON: HTTP %d, campaign %d stored with audience.tag %q; want 400 as for the YAML file",
			r.status, c.ID, c.Push.Audience.Tag)
	}
}
