package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/pushapi"
)

// TestBodyLimitIsOnTheReceivedBody guards that the emulator applies
// MaxBodyBytes to the body it received only (serverapi.go processPush, which
// runs pushapi's Request.ValidateFields); a review found it also applied to
// a re-encoding of the decoded request.
//
// doc.go (the emulator's order of checks): "3. body: empty → 400/1003;
// larger than 1 MiB → 400/1005". push-by-tag.txt sets no limit on
// notification.alert ("notification.alert | String | No | Push notification
// content."), only on title (50 characters) and message.content (128k).
//
// The emulator measured the body it received (http.MaxBytesReader), then ran
// pushapi's Validate, which re-encoded the decoded request with json.Marshal
// and refused it when that re-encoding exceeded MaxBodyBytes. json.Marshal
// escapes '<', '>' and '&' as six-byte \u003c sequences, so a body of under
// a third of the limit, from any client that does not HTML-escape (most JSON
// encoders outside Go do not), was answered 400/1005 "at most 1048576 bytes
// encoded": a limit the documentation puts on nothing the caller sent. Go's
// encoder escapes U+2028 and U+2029 (three bytes each in UTF-8, six escaped)
// whatever its settings, so a re-encoding can outgrow the body received
// however the request is encoded: only the received bytes may be measured.
func TestBodyLimitIsOnTheReceivedBody(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: Quota{Hourly: 100, Daily: 100}}}})
	for _, tc := range []struct{ name, alert string }{
		{"markup", strings.Repeat("<<>>&", 60000)},                       // 300 KB of text
		{"line separators, unescaped", strings.Repeat("\u2028", 200000)}, // 600 KB, 1.2 MB escaped
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tagPush()
			r.Notification.Alert = "ALERT"
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false) // what a non-Go client sends: '<' is one byte
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
			// The alert as written, unescaped (JSON allows U+2028 in a string).
			body := strings.Replace(buf.String(), `"alert":"ALERT"`, `"alert":"`+tc.alert+`"`, 1)
			if len(body) > pushapi.MaxBodyBytes*2/3 || !strings.Contains(body, tc.alert) {
				t.Fatalf("test setup: body of %d bytes, want the alert as written, well under %d", len(body), pushapi.MaxBodyBytes)
			}
			status, ans := b.do(t, http.MethodPost, pushapi.PathPush, body, b.signed(testKey, testSecret, ""))
			if status != http.StatusOK {
				t.Errorf("a %d-byte body (limit %d): HTTP %d code %d %q; want 200", len(body), pushapi.MaxBodyBytes, status, ans.Code, ans.ErrorMessage)
			}
		})
	}
}

// TestClientSendsMarkupUnescaped guards the client's encoding of a push
// (pushapi Request.Encode): JSON without HTML escaping, sized as sent; a
// review found it encoded with json.Marshal.
//
// json.Marshal writes '<', '>' and '&' as six bytes each, and Encode applied
// MaxBodyBytes to that: the client refused (as a permanent failure) a push
// whose alert was 400 KB of markup, a body of 400 KB once written plainly,
// and would have sent it at six times its size had it fit. The same push now
// goes out as written and the emulator records it unchanged.
func TestClientSendsMarkupUnescaped(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	r := tagPush()
	r.Notification.Alert = strings.Repeat("<<>>&", 80000) // 400 KB of text
	body, err := r.Encode()
	if err != nil {
		t.Fatalf("Encode of a %d-byte alert: %v", len(r.Notification.Alert), err)
	}
	if len(body) > len(r.Notification.Alert)+1024 || !bytes.Contains(body, []byte(`"alert":"<<>>&<<>>&`)) || bytes.HasSuffix(body, []byte("\n")) {
		t.Errorf("Encode: %d bytes for a %d-byte alert, %.400q...; want the alert as written, no trailing newline",
			len(body), len(r.Notification.Alert), body)
	}
	if _, err := b.client(t, testKey, testSecret).Push(context.Background(), r); err != nil {
		t.Fatalf("Push of a %d-byte alert: %v", len(r.Notification.Alert), err)
	}
	if p := b.em.Pushes(); len(p) != 1 || p[0].Request.Notification.Alert != r.Notification.Alert {
		t.Errorf("the emulator recorded %d pushes, want 1 with the alert as sent", len(p))
	}
}
