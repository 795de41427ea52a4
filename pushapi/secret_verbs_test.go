package pushapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestSecretRedactedUnderEveryFmtVerb guards Secret's storage (secret.go):
// the value is behind a pointer, not the type's underlying string; a review
// found `type Secret string` printed raw by fmt's bad-verb fallback.
//
// doc.go: "It never logs, and never returns or prints an App Secret."
// secret.go: "Secret is an App Secret. It redacts itself wherever it could be
// printed or serialised (fmt with any verb, %#v, JSON, text encoders such as
// YAML and zerolog)".
//
// fmt handles %p itself before any Formatter, and a verb the operand cannot
// take (%p on a string, %w on anything but an error) is printed as
// "%!verb(type=value)" with the operand's methods disabled: Secret.Format is
// never called and the raw App Secret was printed. A ClientConfig printed the
// same way showed its AppSecret field raw too. The formats are held in a
// variable, as in a logger's or an error helper's format parameter, where
// go vet cannot see them.
func TestSecretRedactedUnderEveryFmtVerb(t *testing.T) {
	t.Parallel()
	const raw = "Y1W2MeFwwwRxa0-review"
	s := NewSecret(raw)
	cfg := ClientConfig{AppKey: "uwd1c0sxdlx2", AppSecret: s}
	for _, format := range []string{"%p", "%w", "app main: %w"} {
		for name, arg := range map[string]any{"Secret": s, "ClientConfig": cfg} {
			if out := fmt.Sprintf(format, arg); strings.Contains(out, raw) {
				t.Errorf("fmt.Sprintf(%q, %s) prints the App Secret: %q", format, name, out)
			}
			if err := fmt.Errorf(format, arg); strings.Contains(err.Error(), raw) {
				t.Errorf("fmt.Errorf(%q, %s) puts the App Secret in an error: %q", format, name, err)
			}
		}
	}
}

// TestSecretDecodesFromText: a Secret that is no longer a string type still
// decodes from text (UnmarshalText: JSON strings, YAML scalars), but never
// from its own redacted form, which is what a marshalled Secret reads.
func TestSecretDecodesFromText(t *testing.T) {
	t.Parallel()
	var v struct {
		AppSecret Secret `json:"app_secret"`
	}
	if err := json.Unmarshal([]byte(`{"app_secret":"Y1W2MeFwwwRxa0"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.AppSecret.Reveal() != "Y1W2MeFwwwRxa0" || !v.AppSecret.Equal(NewSecret("Y1W2MeFwwwRxa0")) {
		t.Errorf("decoded %d bytes, want the secret", len(v.AppSecret.Reveal()))
	}
	dump, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dump, &v); err == nil || !strings.Contains(err.Error(), "redacted") {
		t.Errorf("decoding a dump (%s) = %v, want the redacted form refused", dump, err)
	}
	var zero Secret
	if !zero.IsZero() || !NewSecret("").IsZero() || !zero.Equal(NewSecret("")) || zero.Reveal() != "" {
		t.Errorf("the zero Secret and NewSecret(\"\") must both be empty")
	}
}
