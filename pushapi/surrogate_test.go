package pushapi

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestLoneSurrogate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc, path string
		lone      bool
	}{
		{`{"tags": ["vip"]}`, "", false},
		{`{"tags": ["vip-\ud83d\ude00"]}`, "", false}, // a pair: an emoji
		{`{"tags": ["\u00e9t\u00e9"]}`, "", false},
		{`{"tags": ["vip-\\ud83c"]}`, "", false}, // an escaped backslash, then text
		{`{"tags": ["vip-\ud83c"]}`, "tags[0]", true},
		{`{"tags": ["a", "b-\udc00"]}`, "tags[1]", true}, // a low half alone
		{`{"tags": ["\ud83c\u0041"]}`, "tags[0]", true},  // a high half, then no low one
		{`{"tags": ["\ud83c"`, "tags[0]", true},          // the string is whole; the document's end is the decoder's to refuse
		{`{"tags": ["\uZZZZ"]}`, "", false},              // malformed: the decoder's to say
		{`{"a": {"b": [1, {"c": "x"}, "\ud800"]}}`, "a.b[2]", true},
		{`{"a": 1, "k\ud800": 2}`, "k\ufffd", true}, // in a key: its own path
		{`{"push": {"audience": {"tag": ["ok", "\udbff"]}}, "name": "n"}`, "push.audience.tag[1]", true},
		{`["x", ["\ud800"]]`, "[1][0]", true},
	} {
		path, lone := LoneSurrogate([]byte(tc.doc))
		if lone != tc.lone || path != tc.path {
			t.Errorf("LoneSurrogate(%s) = %q, %v; want %q, %v", tc.doc, path, lone, tc.path, tc.lone)
		}
	}
}

// What the check guards against: encoding/json reads a lone half as U+FFFD.
func TestEncodingJSONReplacesALoneHalf(t *testing.T) {
	t.Parallel()
	var v []string
	if err := json.Unmarshal([]byte(`["vip-\ud83c"]`), &v); err != nil || !strings.Contains(v[0], "\ufffd") {
		t.Fatalf("encoding/json read %q (%v): the check may no longer be needed", v, err)
	}
}
