package admin

import "testing"

// duplicateKey finds a key given twice at any depth, and nothing in a
// document without one (arrays of objects with equal keys included).
func TestDuplicateKey(t *testing.T) {
	for doc, want := range map[string]string{
		`{"userIds":["u1"],"tags":["vip"],"userIds":["u2"]}`: "userIds",
		`{"a":{"b":1,"b":2}}`:                                "a.b",
		`{"a":[{"b":1},{"b":2,"c":[1,{"d":1,"d":2}]}]}`:      "a[1].c[1].d",
		`{"a":[{"b":1},{"b":2}],"c":{"b":3}}`:                "",
		`{"tags":[],"userIds":["x"]}`:                        "",
		`[{"a":1},{"a":1}]`:                                  "",
		`{"a":"b","b":"a"}`:                                  "",
	} {
		if got := duplicateKey([]byte(doc)); got != want {
			t.Errorf("duplicateKey(%s) = %q, want %q", doc, got, want)
		}
	}
}
