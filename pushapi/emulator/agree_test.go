package emulator

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/pushapi"
)

// The client and the emulator agree on what is refused before the service
// acts: a request pushapi.Validate passes is one the emulator accepts, and
// one it refuses the client refuses too, before sending, with the same code
// and path. Each case here once passed Validate and was refused by the
// emulator with a permanent error.
func TestClientAndEmulatorRefuseTheSameRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	for _, tc := range []struct {
		name     string
		edit     func(r *pushapi.Request)
		path     string
		code     int
		contains string
	}{
		{
			// The service documents per-field limits only (content 128 KiB,
			// alert none); the project's body cap (pushapi.MaxBodyBytes) is
			// one constant both sides read, on the bytes sent. '<' is one
			// byte on the wire (the client does not HTML-escape).
			name: "body over MaxBodyBytes",
			edit: func(r *pushapi.Request) {
				r.Message = &pushapi.Message{ObjectName: "App:Html", Content: strings.Repeat("<", pushapi.MaxContentBytes)}
				r.Notification.Alert = strings.Repeat("<b>", (pushapi.MaxBodyBytes-pushapi.MaxContentBytes)/3+1)
			},
			path: "body", code: pushapi.CodeTooLong, contains: "at most 1048576 bytes",
		},
		{
			// extras numbers are kept as their text; one beyond a double's
			// range is refused, as by any service decoding them as doubles.
			name: "extras number beyond a double",
			edit: func(r *pushapi.Request) {
				r.Notification.IOS.Extras = pushapi.Extras{"orderTotal": json.Number("1e400")}
			},
			path: "notification.ios.extras.orderTotal", code: pushapi.CodeParam, contains: "number 1e400 is out of range",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tagPush()
			if err := r.Validate(); err != nil {
				t.Fatalf("the base request: %v", err)
			}
			tc.edit(r)
			var ve *pushapi.ValidationError
			if err := r.Validate(); !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != tc.path ||
				ve.Problems[0].Code != tc.code || !strings.Contains(ve.Problems[0].Rule, tc.contains) {
				t.Errorf("Validate = %v; want one problem at %s, code %d, %q", err, tc.path, tc.code, tc.contains)
			}
			// What the client would have sent (JSON without HTML escaping),
			// sent raw: the emulator refuses it.
			var raw strings.Builder
			enc := json.NewEncoder(&raw)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
			status, ans := b.do(t, http.MethodPost, pushapi.PathPush, strings.TrimSuffix(raw.String(), "\n"), b.signed(testKey, testSecret, ""))
			if status != http.StatusBadRequest || ans.Code != tc.code || !strings.Contains(ans.ErrorMessage, tc.contains) {
				t.Errorf("emulator: HTTP %d code %d %q; want 400, code %d, %q", status, ans.Code, ans.ErrorMessage, tc.code, tc.contains)
			}
		})
	}
}
