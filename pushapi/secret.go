package pushapi

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// Secret is an App Secret. It redacts itself wherever it could be printed or
// serialised (fmt with any verb, %#v, JSON, text encoders such as YAML and
// zerolog); only an explicit Reveal yields the value. Make one with
// NewSecret, or decode one from text (UnmarshalText); the zero Secret is
// empty.
//
// The value is behind a pointer, not the type's underlying value: fmt
// bypasses every method when it cannot use a verb (%p, %w on anything but an
// error, printed as "%!w(pushapi.Secret=...)") and prints the operand by
// reflection, struct fields included; a pointer there prints as an address.
type Secret struct {
	p *string
}

const redacted = "[REDACTED]"

// NewSecret returns value as a Secret.
func NewSecret(value string) Secret {
	if value == "" {
		return Secret{}
	}
	return Secret{p: &value}
}

func (s Secret) redact() string {
	if s.IsZero() {
		return ""
	}
	return redacted
}

// Reveal returns the secret itself, for signing. Never log the result.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// Equal reports, in constant time, whether both secrets hold the same value.
// go-cmp uses it, so values holding a Secret compare without reading it.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

// String implements fmt.Stringer with the redacted form.
func (s Secret) String() string { return s.redact() }

// GoString implements fmt.GoStringer with the redacted form.
func (s Secret) GoString() string { return fmt.Sprintf("pushapi.NewSecret(%q)", s.redact()) }

// Format implements fmt.Formatter so every verb (%s, %v, %q, %x, %d...) prints
// the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		_, _ = fmt.Fprintf(f, "%q", s.redact())
	case 'v':
		if f.Flag('#') {
			_, _ = io.WriteString(f, s.GoString())
			return
		}
		_, _ = io.WriteString(f, s.redact())
	default:
		_, _ = io.WriteString(f, s.redact())
	}
}

// MarshalJSON implements json.Marshaler with the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("%q", s.redact())), nil }

// MarshalText implements encoding.TextMarshaler with the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redact()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: the text is the secret
// (JSON strings, YAML scalars and other text decoders use it). The redacted
// form is refused: it is what a marshalled Secret reads, never an App Secret,
// and taking it would sign every call with the wrong secret.
func (s *Secret) UnmarshalText(text []byte) error {
	if string(text) == redacted {
		return errors.New("pushapi: " + redacted + " is a redacted App Secret, not one")
	}
	*s = NewSecret(string(text))
	return nil
}
