package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// Was: a /push.json body given as YAML was sent with its extras rewritten:
// push send (and push validate) read YAML with a plain yaml.Unmarshal into
// any, so a 24-digit order id became a rounded float and an unquoted date a
// midnight-UTC timestamp, in silence, and a second document was dropped.
// YAML bodies are now read as campaign files are (campaign.YAMLToJSON):
// every number goes out as written, one YAML reads as another number
// (0x1F) is refused naming its field, a date stays its text, and a second
// document is refused.
func TestPushSendYAMLBodyIsSentAsWritten(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, okPush)
	cfgFile, vars := svc.configFor(t)
	const yamlBody = `platform: [ios, android]
fromuserid: system
audience: {tag: [vip], is_to_all: false}
message: {objectName: "RC:TxtMsg", content: '{"content":"hi"}'}
notification:
  title: Sale
  alert: hi
  ios: {extras: {order: ORDER, day: 2026-12-01}}
`
	body := writeFile(t, "push.yaml", strings.Replace(yamlBody, "ORDER", "0x1F", 1))
	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "push", "send", "--app", "main", body)
	if r.code != 1 || len(svc.recorded()) != 0 || !strings.Contains(r.stderr, "notification.ios.extras.order") {
		t.Fatalf("a number YAML reads as 31: %s, %d requests; want exit 1 naming notification.ios.extras.order, nothing sent", r, len(svc.recorded()))
	}
	second := writeFile(t, "two.yaml", strings.Replace(yamlBody, "ORDER", "42", 1)+"---\nplatform: [ios]\n")
	if r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "push", "send", "--app", "main", second); r.code != 1 || len(svc.recorded()) != 0 {
		t.Fatalf("a second YAML document: %s, %d requests; want it refused, nothing sent", r, len(svc.recorded()))
	}
	body = writeFile(t, "push.yaml", strings.Replace(yamlBody, "ORDER", "123456789012345678901234", 1))
	r = runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "push", "send", "--app", "main", body)
	reqs := svc.recorded()
	if r.code != 0 || len(reqs) != 1 {
		t.Fatalf("want the body sent once; got %d requests, %s", len(reqs), r)
	}
	var sent struct {
		Notification struct {
			IOS struct {
				Extras map[string]json.RawMessage `json:"extras"`
			} `json:"ios"`
		} `json:"notification"`
	}
	if err := json.Unmarshal(reqs[0].body, &sent); err != nil {
		t.Fatal(err)
	}
	x := sent.Notification.IOS.Extras
	if got := string(x["order"]); got != "123456789012345678901234" {
		t.Errorf("extras.order sent as %s, written 123456789012345678901234", got)
	}
	if got := string(x["day"]); got != `"2026-12-01"` {
		t.Errorf("extras.day sent as %s, written 2026-12-01", got)
	}
}
