package campaign

import (
	"runtime"
	"strings"
	"testing"
)

// nestedFile is a JSON campaign file, valid but for what is at where: vars
// or an extras object holding a list nested depth deep, or YAML's flow
// style of the vars one. Its size grows by two bytes a level: about 19 KB
// at depth 9,700.
func nestedFile(where string, depth int) []byte {
	nest := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	vars, extras := `{"n": 1}`, `{"k": "v"}`
	switch where {
	case "vars", "yaml vars":
		vars = `{"x": ` + nest + `}`
	case "extras":
		extras = `{"x": ` + nest + `}`
	default:
		panic("nestedFile: " + where)
	}
	if where == "yaml vars" {
		return []byte("name: n\napp: main\nschedule: {now: true}\nvars: " + vars + `
push:
  platform: [ios]
  fromuserid: system
  audience: {is_to_all: true}
  message: {objectName: "RC:TxtMsg", content: '{"content":"hi"}'}
  notification: {title: t, alert: hi, ios: {extras: ` + extras + `}}
`)
	}
	return []byte(`{"name": "n", "app": "main", "schedule": {"now": true}, "vars": ` + vars + `,
		"push": {"platform": ["ios"], "fromuserid": "system", "audience": {"is_to_all": true},
			"message": {"objectName": "RC:TxtMsg", "content": "{\"content\":\"hi\"}"},
			"notification": {"title": "t", "alert": "hi", "ios": {"extras": ` + extras + `}}}}`)
}

// parseAlloc is what one ParseFile of data allocated, the least of three
// runs (the measure is the process's, and the runtime allocates a little
// of its own now and then). Whether the file is refused, and why, is
// TestParseFileNestingDepthLimit's business.
func parseAlloc(data []byte) uint64 {
	least := ^uint64(0)
	for range 3 {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		_, _ = ParseFile(data, testOpts)
		runtime.ReadMemStats(&m1)
		least = min(least, m1.TotalAlloc-m0.TotalAlloc)
	}
	return least
}

// Walking a campaign file's values (duplicateIn for JSON's duplicate keys,
// noNUL and noNull on vars, pushapi's text checks on extras) used to build
// the full path string of every level ("vars.x[0][0][0]..."): memory grew
// with the square of the depth, and a 19 KB file of nested lists in vars
// cost about 430 MiB to be refused. Paths are now built only for a problem
// reported, and vars and extras nest at most MaxNestingDepth levels: the
// cost grows with the file's size.
//
// Not parallel: the measure is the process's allocations while ParseFile
// runs, and no parallel test runs beside a sequential one.
func TestParseFileNestingCostsLinearMemory(t *testing.T) {
	for _, where := range []string{"vars", "extras", "yaml vars"} {
		small, large := parseAlloc(nestedFile(where, 2000)), parseAlloc(nestedFile(where, 4000))
		// Twice the depth: about twice the memory (four times when it
		// grew with the square of the depth).
		if ratio := float64(large) / float64(small); ratio > 3 {
			t.Errorf("%s nested 4,000 deep allocated %.1f times what 2,000 deep did (%d KiB, %d KiB); want about twice (it grew with the square of the depth)",
				where, ratio, large>>10, small>>10)
		}
		data := nestedFile(where, 9700)
		if got := parseAlloc(data); got > 20<<20 {
			t.Errorf("%s: a %d KB file nested 9,700 deep allocated %d MiB; want under 20 MiB", where, len(data)>>10, got>>20)
		}
	}
}

// fmtFile is a valid JSON campaign file with these vars and iOS extras.
func fmtFile(vars, extras string) []byte {
	return []byte(`{"name": "n", "app": "main", "schedule": {"now": true}, "vars": ` + vars + `,
		"push": {"platform": ["ios"], "fromuserid": "system", "audience": {"is_to_all": true},
			"message": {"objectName": "RC:TxtMsg", "content": "{\"content\":\"hi\"}"},
			"notification": {"title": "t", "alert": "hi", "ios": {"extras": ` + extras + `}}}}`)
}

// The paths the walks report are written as they were when each level
// built its own: a key after a dot (none at the start of a JSON file's
// root), an index in brackets, an empty key as an empty segment.
func TestParseFileProblemPathsUnchanged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"duplicate key at the root", []byte(`{"name": "a", "name": "b"}`),
			"invalid campaign (1 problem): not YAML or JSON: key name is given twice"},
		{"duplicate key deep", []byte(`{"vars": {"a.b": [1, {"c": [[{"d": 1, "d": 2}]]}]}}`),
			"invalid campaign (1 problem): not YAML or JSON: key vars.a.b[1].c[0][0].d is given twice"},
		{"duplicate key under an empty root key", []byte(`{"": {"x": [{"y": 1, "y": 2}]}}`),
			"invalid campaign (1 problem): not YAML or JSON: key x[0].y is given twice"},
		{"duplicate empty key", []byte(`{"vars": {"": 1, "": 2}}`),
			"invalid campaign (1 problem): not YAML or JSON: key vars. is given twice"},
		{"NUL and null in vars", fmtFile(`{"": [null], "a": {"b\u0000": 1, "c": [1, "x\u0000", {"d": null}]}}`, `{}`),
			`invalid campaign (4 problems): ` +
				`vars.a: key "b\x00": must not contain a NUL character (U+0000); ` +
				`vars.a.c[1]: must not contain a NUL character (U+0000); ` +
				`vars.[0]: must not be null (a template would print it as <no value>); give a value or leave the key out; ` +
				`vars.a.c[2].d: must not be null (a template would print it as <no value>); give a value or leave the key out`},
	} {
		_, err := ParseFile(tc.data, testOpts)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

// BenchmarkParseFileDeepNesting: what a 19 KB file of nested lists costs
// to be refused.
func BenchmarkParseFileDeepNesting(b *testing.B) {
	for _, where := range []string{"vars", "extras", "yaml vars"} {
		data := nestedFile(where, 9700)
		b.Run(where, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ParseFile(data, testOpts)
			}
		})
	}
}
