package pushapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	got, err := DecodeRequest(loadExample(t))
	if err != nil {
		t.Fatalf("the documented example must decode: %v", err)
	}
	if diff := cmp.Diff(exampleRequest(t), got); diff != "" {
		t.Errorf("example decodes differently from encoding/json (-json +DecodeRequest):\n%s", diff)
	}
	tests := []struct {
		name string
		in   string
		want []pc
	}{
		{"unknown field", `{"audience":{"is_to_al":true}}`, []pc{{"audience.is_to_al", 1002}}},
		{"wrong type", `{"audience":{"userid":"u1"}}`, []pc{{"audience.userid", 1002}}},
		{"wrong nested type", `{"notification":{"ios":{"badge":"1"}}}`, []pc{{"notification.ios.badge", 1002}}},
		{"syntax", `{"platform":[}`, []pc{{"", 1002}}},
		{"empty", ``, []pc{{"", 1003}}},
		{"blank", " \n\t", []pc{{"", 1003}}},
		{"trailing data", `{} {}`, []pc{{"", 1002}}},
		{"truncated", `{"platform":["ios"]`, []pc{{"", 1002}}},
		{"top-level list", `["ios"]`, []pc{{"", 1002}}},
		{"top-level null", `null`, []pc{{"", 1002}}},
		{"keys are case-sensitive", `{"Platform":["ios"]}`, []pc{{"Platform", 1002}}},
		{"every problem at once, known fields in order then unknown ones", `{
			"zzz": 1, "platform": "ios", "audience": {"tag": [1, "a", true], "is_to_all": "no", "tags": []},
			"notification": {"ios": {"badge": 1.5, "extras": []}, "android": {"oppo": {"notify_level": 99999999999999999999}}}}`,
			[]pc{
				{"platform", 1002},
				{"audience.tag[0]", 1002}, {"audience.tag[2]", 1002}, {"audience.is_to_all", 1002}, {"audience.tags", 1002},
				{"notification.ios.badge", 1002}, {"notification.ios.extras", 1002},
				{"notification.android.oppo.notify_level", 1002},
				{"zzz", 1002},
			}},
		{"extras number beyond float64", `{"notification":{"android":{"extras":{"a":[1e400]}}}}`, []pc{{"notification.android.extras.a[0]", 1002}}},
		{"null leaves fields unset", `{"platform":null,"message":null,"notification":{"ios":null,"title":null}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := DecodeRequest([]byte(tt.in))
			if diff := cmp.Diff(tt.want, problemsOf(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if (err == nil) != (r != nil) {
				t.Errorf("DecodeRequest = %v, %v: want exactly one of request and error", r, err)
			}
		})
	}
}

func TestDecodeRequestRules(t *testing.T) {
	t.Parallel()
	in := `{"Platform":["ios"],"audience":{"tag":"女","is_to_al":true},"notification":{"forceShowPushContent":true,
		"android":{"hw":{"colour":"red"}},"ios":{"badge":"1"}}}`
	_, err := DecodeRequest([]byte(in))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *ValidationError", err)
	}
	want := []FieldError{
		{Path: "audience.tag", Rule: `must be a list, got a string ("女")`, Code: CodeParam},
		{Path: "audience.is_to_al", Rule: `unknown field (did you mean "is_to_all"?)`, Code: CodeParam},
		{Path: "notification.forceShowPushContent", Rule: "must be an integer, got a boolean (true)", Code: CodeParam},
		{Path: "notification.ios.badge", Rule: `must be an integer, got a string ("1")`, Code: CodeParam},
		{Path: "notification.android.hw.colour", Rule: "unknown field; known fields: channelId, importance, image, category", Code: CodeParam},
		{Path: "Platform", Rule: `unknown field (did you mean "platform"?)`, Code: CodeParam},
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestDecodeRequestDuplicateKeysLastWins(t *testing.T) {
	t.Parallel()
	// encoding/json would fail on the first value after the shape check
	// passed on the last; decoding from the checked value keeps them agreed.
	r, err := DecodeRequest([]byte(`{"platform":"ios","platform":["android"],"audience":{"is_to_all":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"android"}, r.Platform); diff != "" {
		t.Errorf("platform (-want +got):\n%s", diff)
	}
}

func TestDecodeRequestSyntaxErrorPosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want SyntaxError
	}{
		{"bad character", "{\"platform\": [\"ios\"],\n  \"audience\": {,}}", SyntaxError{Offset: 37, Line: 2, Column: 16, Code: CodeParam,
			Msg: "invalid JSON: invalid character ',' looking for beginning of object key string"}},
		{"columns count characters", "{\"title\": \"标题\" x}", SyntaxError{Offset: 19, Line: 1, Column: 16, Code: CodeParam,
			Msg: "invalid JSON: invalid character 'x' after object key:value pair"}},
		{"truncated", "{\n\"platform\": [", SyntaxError{Offset: 15, Line: 2, Column: 14, Code: CodeParam, Msg: "invalid JSON: unexpected end of input"}},
		{"empty", "\n", SyntaxError{Offset: 1, Line: 2, Column: 1, Code: CodeNoPostData, Msg: "invalid JSON: unexpected end of input (empty body)"}},
		{"trailing", "{}\n  x", SyntaxError{Offset: 5, Line: 2, Column: 3, Code: CodeParam, Msg: "unexpected data after the JSON document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeRequest([]byte(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *SyntaxError", err)
			}
			if diff := cmp.Diff(tt.want, *se); diff != "" {
				t.Errorf("SyntaxError (-want +got):\n%s", diff)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Rule != se.Error() || ve.Code() != tt.want.Code {
				t.Errorf("as ValidationError: %v", ve)
			}
		})
	}
}

func TestCheckShape(t *testing.T) {
	t.Parallel()
	// A campaign file's push section, decoded generically three ways: with
	// json.Number, with float64 and with Go integers (as from YAML).
	const doc = `{"platform":["ios"],"audience":{"userid":"u1","is_to_all":false},"notifcation":{},
		"notification":{"ios":{"badge":2,"contentAvailable":1.5}}}`
	var withNumbers, withFloats any
	if err := json.Unmarshal([]byte(doc), &withFloats); err != nil {
		t.Fatal(err)
	}
	var err error
	if withNumbers, err = parseJSON([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	withInts := map[string]any{
		"platform":     []any{"ios"},
		"audience":     map[string]any{"userid": "u1", "is_to_all": false},
		"notifcation":  map[string]any{},
		"notification": map[string]any{"ios": map[string]any{"badge": 2, "contentAvailable": 1.5}},
	}
	want := []FieldError{
		{Path: "push.audience.userid", Rule: `must be a list, got a string ("u1")`, Code: CodeParam},
		{Path: "push.notification.ios.contentAvailable", Rule: "must be an integer, got 1.5", Code: CodeParam},
		{Path: "push.notifcation", Rule: `unknown field (did you mean "notification"?)`, Code: CodeParam},
	}
	for name, v := range map[string]any{"json.Number": withNumbers, "float64": withFloats, "Go integers": withInts} {
		if diff := cmp.Diff(want, CheckShape(v, "push")); diff != "" {
			t.Errorf("%s: problems (-want +got):\n%s", name, diff)
		}
	}
	if got := CheckShape([]any{}, "push"); len(got) != 1 || got[0].Path != "push" || got[0].Rule != "must be an object, got a list" {
		t.Errorf("CheckShape(list) = %v", got)
	}
	if got := CheckShape(nil, "push"); got != nil {
		t.Errorf("CheckShape(nil) = %v, want none (null leaves push unset)", got)
	}
	if got := CheckShape(map[string]any{"audience": map[string]any{"is_to_all": true}}, ""); got != nil {
		t.Errorf("CheckShape(valid) = %v", got)
	}
}

func TestDecodeJSONOtherTargets(t *testing.T) {
	t.Parallel()
	var batch BatchSetUserTagsRequest
	if err := DecodeJSON([]byte(`{"userIds":["u1","u2"],"tags":[]}`), &batch); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(BatchSetUserTagsRequest{UserIDs: []string{"u1", "u2"}, Tags: []string{}}, batch); diff != "" {
		t.Errorf("batch (-want +got):\n%s", diff)
	}

	set := SetUserTagsRequest{UserID: "keep"}
	err := DecodeJSON([]byte(`{"userid":"u1","tags":"a"}`), &set)
	want := []pc{{"tags", 1002}, {"userid", 1002}}
	if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if set.UserID != "keep" {
		t.Errorf("target changed on error: %+v", set)
	}

	for _, target := range []any{nil, SetUserTagsRequest{}, (*SetUserTagsRequest)(nil)} {
		err := DecodeJSON([]byte(`{}`), target)
		var ve *ValidationError
		if err == nil || errors.As(err, &ve) {
			t.Errorf("DecodeJSON(%T) = %v, want a programming error", target, err)
		}
	}
}

func TestDecodeJSONEmbeddedAndTypes(t *testing.T) {
	t.Parallel()
	type inner struct {
		A int8 `json:"a"`
	}
	type outer struct {
		inner
		B      uint8     `json:"b"`
		C      float32   `json:"c"`
		D      [2]string `json:"d"`
		E      string    `json:"-"`
		hidden int
	}
	var o outer
	err := DecodeJSON([]byte(`{"a":128,"b":-1,"c":1e39,"d":["x","y","z"],"E":"","hidden":1}`), &o)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	want := []FieldError{
		{Path: "a", Rule: "integer 128 is out of range", Code: CodeParam},
		{Path: "b", Rule: "must be a non-negative integer, got -1", Code: CodeParam},
		{Path: "c", Rule: "number 1e39 is out of range", Code: CodeParam},
		{Path: "d", Rule: "at most 2 items, got 3", Code: CodeParam},
		{Path: "E", Rule: `unknown field; known fields: a, b, c, d`, Code: CodeParam},
		{Path: "hidden", Rule: `unknown field; known fields: a, b, c, d`, Code: CodeParam},
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if err := DecodeJSON([]byte(`{"a":-128,"b":255,"c":1.5,"d":["x"]}`), &o); err != nil {
		t.Fatal(err)
	}
	if o.A != -128 || o.B != 255 || o.C != 1.5 || o.D != [2]string{"x", ""} || o.hidden != 0 {
		t.Errorf("decoded %+v", o)
	}
}

func TestUnknownFieldSuggestions(t *testing.T) {
	t.Parallel()
	known := []string{"platform", "fromuserid", "audience", "message", "notification"}
	for key, want := range map[string]string{
		"notifcation": "notification", "Platform": "platform", "fromUserId": "fromuserid", "audiences": "audience",
		"colour": "", "msg": "", "": "", "platformplatform": "", "x": "", "mesage": "message",
	} {
		if got := nearest(key, known); got != want {
			t.Errorf("nearest(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "", "abc": "abc", "abcd": "abc…", "标题标题": "标题标…", "\xffab": "\xffab"} {
		if got := truncate(in, 3); got != want {
			t.Errorf("truncate(%q, 3) = %q, want %q", in, got, want)
		}
	}
}

func TestValidateRejectsInvalidUTF8AndNUL(t *testing.T) {
	t.Parallel()
	// encoding/json would send U+FFFD instead of these bytes: the service
	// would get another text than the one validated (found by FuzzValidate).
	r := exampleRequest(t)
	r.Notification.Title = "\xad"
	r.Audience.Tag[1] = "a\xffb"
	r.Notification.IOS.Extras = map[string]any{"ok": []any{"fine", map[string]any{"k": "\xc3"}}, "bad\xfe": "v", "n\x00": "v", "z": "a\x00"}
	r.Notification.Alert = "nul\x00" // a NUL: PostgreSQL stores none
	want := []FieldError{
		{Path: "audience.tag[1]", Rule: `must be valid UTF-8 text, got "a\xffb"`, Code: CodeParam},
		{Path: "notification.title", Rule: `must be valid UTF-8 text, got "\xad"`, Code: CodeParam},
		{Path: "notification.alert", Rule: `must not contain a NUL character (U+0000)`, Code: CodeParam},
		{Path: "notification.ios.extras", Rule: `key "bad\xfe" must be valid UTF-8 text without NUL (U+0000)`, Code: CodeParam},
		{Path: "notification.ios.extras", Rule: `key "n\x00" must be valid UTF-8 text without NUL (U+0000)`, Code: CodeParam},
		{Path: "notification.ios.extras.ok[1].k", Rule: `must be valid UTF-8 text, got "\xc3"`, Code: CodeParam},
		{Path: "notification.ios.extras.z", Rule: `must not contain a NUL character (U+0000)`, Code: CodeParam},
	}
	var ve *ValidationError
	if err := r.Validate(); !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	set := SetUserTagsRequest{UserID: "u\x80", Tags: []string{"ok", "\x80"}}
	if diff := cmp.Diff([]pc{{"userId", 1002}, {"tags[1]", 1002}}, problemsOf(t, set.Validate())); diff != "" {
		t.Errorf("SetUserTagsRequest problems (-want +got):\n%s", diff)
	}
	batch := BatchSetUserTagsRequest{UserIDs: []string{"\x80"}, Tags: []string{}}
	if diff := cmp.Diff([]pc{{"userIds[0]", 1002}}, problemsOf(t, batch.Validate())); diff != "" {
		t.Errorf("BatchSetUserTagsRequest problems (-want +got):\n%s", diff)
	}
}

// extras is free JSON for the app: an integer beyond 2^53 (an order id)
// must reach the service digit for digit, whether it comes through the
// strict decoder (files, the admin API) or plain encoding/json (the store).
func TestExtrasKeepIntegersExact(t *testing.T) {
	t.Parallel()
	const id = "1234567890123456789" // float64 would make it ...800
	body := `{"platform":["android"],"fromuserid":"system","audience":{"tag":["a"],"is_to_all":false},` +
		`"message":{"content":"{\"content\":\"x\"}","objectName":"RC:TxtMsg"},` +
		`"notification":{"alert":"x","android":{"extras":{"orderId":` + id + `,"nested":{"n":[` + id + `,1.5]}}}}}`
	strict, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var plain Request
	if err := json.Unmarshal([]byte(body), &plain); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*Request{"DecodeRequest": strict, "json.Unmarshal": &plain} {
		if err := r.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		want := `"extras":{"nested":{"n":[` + id + `,1.5]},"orderId":` + id + `}`
		if !strings.Contains(string(out), want) {
			t.Errorf("%s: extras changed on the way to the service:\n got %s\nwant %s", name, out, want)
		}
	}
}
