package config

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// redacted is what a Secret prints as, whatever the verb or encoder.
const redacted = "[redacted]"

// Secret holds an App Secret or an admin token. It redacts itself in every
// textual form (fmt verbs including %#v, JSON, YAML, encoding.TextMarshaler,
// slog); the value is only available through Reveal, which callers use at the
// single point where the secret is needed (signing a request, comparing a
// bearer token).
//
// The value is kept behind a pointer in an unexported field, so that a
// reflection-based dump cannot read it by accident either: fmt bypasses
// every method when it cannot use a verb (%p, %w on anything but an error,
// printed as "%!w(config.Secret=...)") and prints the operand's fields by
// reflection; a pointer there prints as an address, a string as itself.
type Secret struct {
	p *string
}

// NewSecret wraps value.
func NewSecret(value string) Secret {
	if value == "" {
		return Secret{}
	}
	return Secret{p: &value}
}

// Reveal returns the secret value. Never log or print the result.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// Equal reports whether both secrets hold the same value, in constant time.
// go-cmp uses it, so configs compare without exposing the value in diffs.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

// Matches reports, in constant time, whether candidate is the secret (for
// bearer tokens). An empty secret matches nothing.
func (s Secret) Matches(candidate string) bool {
	if s.IsZero() {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(candidate)) == 1
}

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that no verb (%v, %+v, %#v, %s, %q, %x,
// %d, ...) can print the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return redacted, nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
