package admin

import (
	"strings"
	"testing"
)

// bodyProblem finds a key given twice at any depth, with its path, and
// nothing in a document without one (arrays of objects with equal keys
// included); and nesting past maxBodyDepth, where it starts.
func TestBodyProblem(t *testing.T) {
	deep := strings.Repeat("[", maxBodyDepth) + "{}" + strings.Repeat("]", maxBodyDepth)
	for doc, want := range map[string]Problem{
		`{"userIds":["u1"],"tags":["vip"],"userIds":["u2"]}`: {Path: "userIds", Rule: "given more than once"},
		`{"a":{"b":1,"b":2}}`:                                {Path: "a.b", Rule: "given more than once"},
		`{"a":[{"b":1},{"b":2,"c":[1,{"d":1,"d":2}]}]}`:      {Path: "a[1].c[1].d", Rule: "given more than once"},
		`[{"a":1},[{"a":1,"a":2}]]`:                          {Path: "[1][0].a", Rule: "given more than once"},
		`{"a":[{"b":1},{"b":2}],"c":{"b":3}}`:                {},
		`{"tags":[],"userIds":["x"]}`:                        {},
		`[{"a":1},{"a":1}]`:                                  {},
		`{"a":"b","b":"a"}`:                                  {},
		`{"tags":[`:                                          {}, // malformed: the decoder says why
		deep[1 : len(deep)-1]:                                {}, // maxBodyDepth levels
		deep:                                                 {Path: strings.Repeat("[0]", maxBodyDepth), Rule: "nested more than 32 deep"},
		`{"tags":` + deep + `}`:                              {Path: "tags" + strings.Repeat("[0]", maxBodyDepth-1), Rule: "nested more than 32 deep"},
	} {
		got, ok := bodyProblem([]byte(doc))
		if got != want || ok != (want != Problem{}) {
			t.Errorf("bodyProblem(%.80s) = %+v, %v; want %+v", doc, got, ok, want)
		}
	}
}
