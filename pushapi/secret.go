package pushapi

import (
	"fmt"
	"io"
)

// Secret is an App Secret. It redacts itself wherever it could be printed or
// serialised (fmt with any verb, %#v, JSON, text encoders such as YAML and
// zerolog); only an explicit Reveal (or string(s)) yields the value.
type Secret string

const redacted = "[REDACTED]"

func (s Secret) redact() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Reveal returns the secret itself, for signing. Never log the result.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer with the redacted form.
func (s Secret) String() string { return s.redact() }

// GoString implements fmt.GoStringer with the redacted form.
func (s Secret) GoString() string { return fmt.Sprintf("pushapi.Secret(%q)", s.redact()) }

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
