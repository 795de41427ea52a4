package admin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/campaign"
)

// FuzzBodyProblem: the admin API's scan of request bodies (tag and retry
// bodies) never panics, and on a well-formed document it finds a key given
// twice exactly when campaign.DuplicateKey (the CLI's and the campaign
// file's scan) does, unless it stopped first at nesting past maxBodyDepth.
//
//	go test -run '^$' -fuzz '^FuzzBodyProblem$' -fuzztime 60s ./admin/
func FuzzBodyProblem(f *testing.F) {
	deep := strings.Repeat("[", maxBodyDepth) + "{}" + strings.Repeat("]", maxBodyDepth)
	for _, s := range []string{
		`{"userIds":["u1"],"tags":["vip"],"userIds":["u2"]}`, `{"a":{"b":1,"b":2}}`,
		`{"a":[{"b":1},{"b":2,"c":[1,{"d":1,"d":2}]}]}`, `[{"a":1},[{"a":1,"a":2}]]`,
		`{"a":[{"b":1},{"b":2}],"c":{"b":3}}`, `{"tags":[],"userIds":["x"]}`, `[{"a":1},{"a":1}]`,
		`{"a":"b","b":"a"}`, `{"tags":[`, deep, deep[1 : len(deep)-1], `{"a":1,"\u0061":2}`,
		`{"tags":["vip"],"unknown":{"x":null}}`, ``, `null`, `"x"`, `{"":1,"":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, found := bodyProblem(data)
		if found && (p.Rule == "" || (p.Rule != "given more than once" && !strings.HasPrefix(p.Rule, "nested more than"))) {
			t.Fatalf("bodyProblem(%q) = %+v: a problem without a known rule", data, p)
		}
		if !json.Valid(data) || (found && p.Rule != "given more than once") {
			return
		}
		_, dup := campaign.DuplicateKey(data)
		if dup != found {
			t.Fatalf("bodyProblem(%q) found a key given twice: %v (%+v); campaign.DuplicateKey: %v", data, found, p, dup)
		}
	})
}
