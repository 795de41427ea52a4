package pushapi

import (
	"crypto/sha1" //nolint:gosec // the oracle for the service's SHA1 signature.
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Fuzz targets (issue 8, point 4). `go test` runs every seed below and every
// input under testdata/fuzz/ (earlier finds) as regression tests; to fuzz,
// one target at a time:
//
//	go test -run '^$' -fuzz '^FuzzDecodeRequest$' -fuzztime 60s -parallel 1 ./pushapi/

// decodeSeeds are bodies on the edges of the decoder: the documented
// example, every kind of syntax error, wrong types at each level, unknown
// and case-variant keys, nulls, duplicates, huge numbers, deep nesting.
var decodeSeeds = []string{
	``, ` `, `null`, `[]`, `"x"`, `1`, `{}`, `{} {}`, `{}x`, `{`, `{"platform":[}`, "\ufeff{}",
	`{"platform":["ios"],"audience":{"is_to_all":true},"notification":{"alert":"hi"}}`,
	`{"platform":["IOS","ios","ios",""],"audience":{"userid":[""," "]},"notification":{}}`,
	`{"Platform":["ios"],"AUDIENCE":{},"notification":{"Alert":"x"}}`,
	`{"platform":"ios","platform":["android"],"audience":{"tag":["a"]},"notification":{"alert":"x"}}`,
	`{"audience":{"is_to_all":"true","userid":[1,null,true,{}],"tag":{}},"notification":[]}`,
	`{"notification":{"ios":{"badge":1e2,"contentAvailable":-0,"extras":{"a":[1e400,-1e-400]}}}}`,
	`{"notification":{"ios":{"badge":99999999999999999999999},"android":{"oppo":{"notify_level":16}}}}`,
	`{"message":{"content":"{\"content\":1}","objectName":"RC:TxtMsg"},"fromuserid":""}`,
	`{"message":{"content":"x","objectName":"RC:Unknown"},"fromuserid":"a"}`,
	`{"message":{"content":"x","objectName":"abcdefghijklmnopqrstuvwxyz1234567"}}`,
	`{"notification":{"android":{"hw":{"image":"http://x"},"honor":{"image":":"},"mi":{"large_icon_uri":"ftp://x/y"},"vivo":{"category":"IM"}}}}`,
	`{"notification":{"harmonyOS":{"ohos":{"image":"https://"}},"ios":{"interruption-level":"loud","richMediaUri":"%"}}}`,
	`{"notification":{"title":"` + strings.Repeat("长", 51) + `","forceShowPushContent":2,"ios":{"extras":{}},"android":{"extras":null}}}`,
	`{"a":{"b":{"c":{"d":[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]}}}}`,
	"{\"title\":\"\xff\xfe\"}",
}

func FuzzDecodeRequest(f *testing.F) {
	example, err := os.ReadFile("testdata/push-by-tag-request.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			if r != nil {
				t.Fatalf("DecodeRequest returned a request and an error: %v", err)
			}
			checkProblems(t, "DecodeRequest", err)
			// The shape check on a generic decode agrees with the decoder.
			if doc, perr := parseJSON(data); perr == nil {
				if _, isObject := doc.(map[string]any); isObject && len(CheckShape(doc, "")) == 0 {
					t.Fatalf("CheckShape finds nothing but DecodeRequest fails: %v", err)
				}
			}
			return
		}
		if doc, perr := parseJSON(data); perr != nil {
			t.Fatalf("DecodeRequest accepted a body parseJSON rejects: %v", perr)
		} else if problems := CheckShape(doc, ""); len(problems) > 0 {
			t.Fatalf("DecodeRequest accepted a body CheckShape rejects: %v", problems)
		}

		verr := r.Validate()
		if verr != nil {
			checkProblems(t, "Validate", verr)
		}
		if again := r.Validate(); fmt.Sprint(again) != fmt.Sprint(verr) {
			t.Fatalf("Validate is not deterministic:\n%v\n%v", verr, again)
		}
		if verr != nil {
			return
		}
		// A valid body survives marshal and decode unchanged and stays valid.
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal a valid request: %v", err)
		}
		back, err := DecodeRequest(out)
		if err != nil {
			t.Fatalf("decode a marshalled valid request: %v\n%s", err, out)
		}
		if diff := cmp.Diff(r, back, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip changed the request (-decoded +round-tripped):\n%s\n%s", diff, out)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("round-tripped request no longer valid: %v\n%s", err, out)
		}
	})
}

// checkProblems asserts err is a *ValidationError of at least one problem,
// each with a rule and a service code, at a path that names a field.
func checkProblems(t *testing.T, what string, err error) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%s: error %T %v is not a *ValidationError", what, err, err)
	}
	if len(ve.Problems) == 0 {
		t.Fatalf("%s: *ValidationError without problems", what)
	}
	for _, p := range ve.Problems {
		if p.Rule == "" || !slices.Contains([]int{CodeParam, CodeNoPostData, CodeTooLong}, p.Code) {
			t.Fatalf("%s: bad problem %+v", what, p)
		}
	}
	if !strings.Contains(ve.Error(), ve.Problems[0].Rule) {
		t.Fatalf("%s: Error() %q lacks the first rule", what, ve.Error())
	}
}

func FuzzValidate(f *testing.F) {
	// platform1, platform2 ("" leaves it out), userid / tag / tag_or counts,
	// content size, objectName, title, notification alert, badge, and
	// whether a message (with fromuserid) is sent.
	f.Add("ios", "android", uint16(2), uint8(2), uint8(2), uint32(30), "RC:TxtMsg", "标题", "this is a push", int32(0), true)
	f.Add("ios", "", uint16(1000), uint8(20), uint8(20), uint32(MaxContentBytes), "RC:ImgMsg", strings.Repeat("长", 50), "a", int32(9999), true)
	f.Add("IOS", "ios", uint16(1001), uint8(21), uint8(21), uint32(MaxContentBytes+1), "RC:Foo", strings.Repeat("长", 51), "", int32(10000), true)
	f.Add("web", "", uint16(0), uint8(0), uint8(0), uint32(0), "", "", "", int32(-1), true)
	f.Add("", "", uint16(0), uint8(1), uint8(0), uint32(5), "MyApp:Custom", "t", "x", int32(0), false)
	f.Add("android", "android", uint16(3), uint8(0), uint8(0), uint32(14), strings.Repeat("x", 32), "", "x", int32(0), true)
	f.Add("android", "ios", uint16(3), uint8(0), uint8(0), uint32(14), strings.Repeat("界", 33), "", "x", int32(0), true)
	f.Add("ios", "android", uint16(1), uint8(0), uint8(0), uint32(14), "rc:TxtMsg", "", "x", int32(0), true)
	f.Fuzz(func(t *testing.T, platform1, platform2 string, userIDs uint16, tags, tagOr uint8, contentSize uint32,
		objectName, title, alert string, badge int32, withMessage bool,
	) {
		nUsers, nTags, nTagOr := int(userIDs)%1100, int(tags)%25, int(tagOr)%25
		size := int(contentSize % (MaxContentBytes + 64))
		r := &Request{
			Audience: Audience{UserID: items("u", nUsers), Tag: items("t", nTags), TagOr: items("o", nTagOr)},
			Notification: &Notification{Title: title, Alert: alert, IOS: &IOSNotification{Badge: new(int(badge))},
				Android: &AndroidNotification{}},
		}
		for _, p := range []string{platform1, platform2} {
			if p != "" {
				r.Platform = append(r.Platform, p)
			}
		}
		if withMessage {
			r.FromUserID = "system"
			r.Message = &Message{Content: txtContent(size), ObjectName: objectName}
		}

		err := r.Validate()
		if again := r.Validate(); fmt.Sprint(again) != fmt.Sprint(err) {
			t.Fatalf("Validate is not deterministic:\n%v\n%v", err, again)
		}
		got := map[string]int{} // path -> code of its first problem
		if err != nil {
			checkProblems(t, "Validate", err)
			var ve *ValidationError
			errors.As(err, &ve)
			for _, p := range ve.Problems {
				if _, seen := got[p.Path]; !seen {
					got[p.Path] = p.Code
				}
			}
		}
		expect := func(path string, want bool, code int) {
			t.Helper()
			c, has := got[path]
			switch {
			case has != want:
				t.Fatalf("problem at %s: got %v, want %v (%v)", path, has, want, err)
			case has && c != code:
				t.Fatalf("problem at %s: code %d, want %d", path, c, code)
			}
		}
		expect("platform", len(r.Platform) == 0, CodeParam)
		for i, p := range r.Platform {
			bad := (p != PlatformIOS && p != PlatformAndroid) || (i == 1 && p == r.Platform[0])
			expect(fmt.Sprintf("platform[%d]", i), bad, CodeParam)
		}
		expect("audience.userid", nUsers > MaxUserIDs, CodeParam)
		expect("audience.tag", nTags > MaxAudienceTags, CodeParam)
		expect("audience.tag_or", nTagOr > MaxAudienceTags, CodeParam)
		expect("audience", nUsers+nTags+nTagOr == 0, CodeParam)
		// Strings must be valid UTF-8 (encoding/json would alter them)
		// without NUL (PostgreSQL stores none).
		if long := utf8.RuneCountInString(title) > MaxTitleChars; long || !utf8.ValidString(title) || strings.ContainsRune(title, 0) {
			expect("notification.title", true, map[bool]int{true: CodeTooLong, false: CodeParam}[long])
		} else {
			expect("notification.title", false, 0)
		}
		expect("notification.ios.badge", int(badge) > MaxBadge, CodeParam)
		if !withMessage {
			expect("message.content", false, 0)
			expect("message.objectName", false, 0)
			return
		}
		switch {
		case size == 0:
			expect("message.content", true, CodeParam)
		case size > MaxContentBytes:
			expect("message.content", true, CodeTooLong)
		default:
			// Content of 14 bytes or more is a JSON object (a valid
			// RC:TxtMsg body); below, plain letters, which only a
			// built-in type refuses.
			expect("message.content", IsBuiltinObjectName(objectName) && size < 14, CodeParam)
		}
		custom := objectName != "" && !strings.HasPrefix(objectName, "RC:")
		switch {
		case objectName == "" || (!custom && !IsBuiltinObjectName(objectName)):
			expect("message.objectName", true, CodeParam)
		case custom && utf8.RuneCountInString(objectName) > MaxCustomObjectNameChars:
			expect("message.objectName", true, CodeTooLong)
		default:
			expect("message.objectName", !utf8.ValidString(objectName) || strings.ContainsRune(objectName, 0), CodeParam)
		}
		if err != nil {
			return
		}
		out, merr := json.Marshal(r)
		if merr != nil {
			t.Fatal(merr)
		}
		back, derr := DecodeRequest(out)
		if derr != nil {
			t.Fatalf("decode a marshalled valid request: %v", derr)
		}
		if diff := cmp.Diff(r, back, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip changed the request (-built +round-tripped):\n%s", diff)
		}
	})
}

// items returns n distinct non-empty list items.
func items(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// txtContent is message content of exactly size bytes: a valid RC:TxtMsg
// body {"content":"xx…"} from 14 bytes on, plain letters below.
func txtContent(size int) string {
	const frame = len(`{"content":""}`)
	if size < frame {
		return strings.Repeat("x", size)
	}
	return `{"content":"` + strings.Repeat("x", size-frame) + `"}`
}

func FuzzSign(f *testing.F) {
	// The published test vector, then edge cases.
	f.Add("Y1W2MeFwwwRxa0", "14314", "1408710653000")
	f.Add("", "", "")
	f.Add("secret", "999999999999999999", "9999999999")
	f.Add("\x00\xff", "ü", "-1")
	f.Fuzz(func(t *testing.T, secret, nonce, ts string) {
		got := Sign(secret, nonce, ts)
		if len(got) != 40 || strings.Trim(got, "0123456789abcdef") != "" {
			t.Fatalf("Sign = %q, want 40 lowercase hex characters", got)
		}
		sum := sha1.Sum([]byte(secret + nonce + ts)) //nolint:gosec // the oracle.
		if want := hex.EncodeToString(sum[:]); got != want {
			t.Fatalf("Sign = %s, want SHA1(secret+nonce+timestamp) %s", got, want)
		}
		// Plain concatenation: where the parts split does not matter.
		if again := Sign(secret+nonce, "", ts); again != got {
			t.Fatalf("Sign(secret+nonce, \"\", ts) = %s, want %s", again, got)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).Unix()
	f.Add("120", now)
	f.Add(" 7 ", now)
	f.Add("0", now)
	f.Add("-5", now)
	f.Add("+5", now)
	f.Add("9223372036854775807", now)
	f.Add("99999999999999999999", now)
	f.Add("1.5", now)
	f.Add("Sun, 01 Jun 2025 12:02:00 GMT", now)
	f.Add("Sunday, 01-Jun-25 12:02:00 GMT", now)
	f.Add("Sun Jun  1 12:02:00 2025", now)
	f.Add("Sun, 01 Jun 2025 11:00:00 GMT", now)
	f.Add("Fri, 31 Dec 9999 23:59:59 GMT", int64(-1)<<62)
	f.Add("", now)
	f.Fuzz(func(t *testing.T, v string, nowUnix int64) {
		at := time.Unix(nowUnix, 0)
		got := parseRetryAfter(v, at)
		if got < 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, negative", v, got)
		}
		if again := parseRetryAfter(v, at); again != got {
			t.Fatalf("parseRetryAfter(%q) not deterministic: %v then %v", v, got, again)
		}
		trimmed := strings.TrimSpace(v)
		if trimmed == "" && got != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, want 0 for a blank header", v, got)
		}
		if secs, err := strconv.ParseInt(trimmed, 10, 64); err == nil {
			want := time.Duration(0)
			if secs > 0 {
				want = time.Duration(min(secs, int64(1<<63-1)/int64(time.Second))) * time.Second
			}
			if got != want {
				t.Fatalf("parseRetryAfter(%q) = %v, want %v", v, got, want)
			}
			return
		}
		// An HTTP date has whole seconds and so does now, so the wait does
		// too, unless it saturates at the longest Duration (a date centuries
		// away).
		if got%time.Second != 0 && got != time.Duration(math.MaxInt64) {
			t.Fatalf("parseRetryAfter(%q) = %v, not whole seconds", v, got)
		}
		if got > 0 {
			if _, err := http.ParseTime(trimmed); err != nil {
				t.Fatalf("parseRetryAfter(%q) = %v, but it is neither delta seconds nor an HTTP date", v, got)
			}
		}
	})
}
