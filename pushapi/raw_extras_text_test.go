package pushapi

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// Found by a review of c327be3 (checkRawJSON); failed before its fix. A json.RawMessage in extras is now
// "checked as the JSON it holds", but it is checked after parseJSON decoded
// it, and encoding/json's decoder silently replaces invalid UTF-8 (raw
// bytes, or a lone surrogate escape) with U+FFFD. checkText then only sees
// valid text, so Validate passes; Encode copies the RawMessage's bytes as
// they are (encoding/json's compact does not repair them), and the service
// receives text other than what was validated: the very edge the commit
// closes for a plain string ("a\xffb" is refused, see
// TestIntKeyedExtrasClientAndEmulatorAgree). The cause was pushapi/decode.go:338
// (checkRawJSON checks the decoded document, not the bytes sent).
func TestRawMessageInvalidUTF8IsRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	for name, raw := range map[string]string{
		"invalid UTF-8 byte in a string": "{\"note\":\"a\xffb\"}",
		"invalid UTF-8 byte in a key":    "{\"n\xffte\":1}",
		"lone surrogate escape":          `{"note":"a\ud800b"}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The same text as a Go string is refused.
			if name != "lone surrogate escape" {
				plain := validRequest()
				plain.Notification.Android = &AndroidNotification{Extras: Extras{"order": map[string]any{"note": "a\xffb"}}}
				if plain.Validate() == nil {
					t.Fatal("control: invalid UTF-8 in a plain extras string passed Validate")
				}
			}
			r := validRequest()
			r.Notification.Android = &AndroidNotification{Extras: Extras{"order": json.RawMessage(raw)}}
			body, err := r.Encode()
			if err == nil {
				sent := string(body)
				t.Errorf("extras %q as a json.RawMessage passed Validate and is sent as written (valid UTF-8 body: %v, has \\ud800: %v); "+
					"the service decodes it as U+FFFD, not the text validated", raw, utf8.ValidString(sent), strings.Contains(sent, `\ud800`))
			}
		})
	}
}
