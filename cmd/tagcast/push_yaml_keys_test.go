package main

import (
	"strings"
	"testing"
)

// Was (for a few hours: campaign.YAMLToJSON of ae9c015): a YAML key
// written 1.10 (a float to YAML) was sent as "1.1", and two keys YAML
// reads as one float (1.10 and 1.1) became one, the other value dropped in
// silence; the reader before had refused the body. Keys YAML would not keep
// as written are now refused, naming the field, in push bodies and
// campaign files alike.
func TestPushSendYAMLNonStringKeysAreNotRewritten(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, okPush)
	cfgFile, vars := svc.configFor(t)
	body := writeFile(t, "push.yaml", `platform: [ios]
fromuserid: system
audience: {tag: [vip], is_to_all: false}
message: {objectName: "RC:TxtMsg", content: '{"content":"hi"}'}
notification:
  alert: hi
  ios: {extras: {1.10: a, 1.1: b}}
`)
	r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "push", "send", "--app", "main", body)
	if reqs := svc.recorded(); r.code != 1 || len(reqs) != 0 || !strings.Contains(r.stderr, "extras") {
		sent := ""
		if len(reqs) > 0 {
			sent = string(reqs[0].body)
		}
		t.Fatalf("extras keys 1.10 and 1.1 (YAML floats): %s, %d requests (sent %s); want exit 1 naming notification.ios.extras, nothing sent",
			r, len(reqs), sent)
	}
}
