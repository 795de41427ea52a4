package pushapi

import (
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // the service's signature scheme is SHA1; not our choice.
	"encoding/hex"
	"math/big"
	"strconv"
	"time"
)

// Sign returns the Signature header of a Server API call: the lowercase hex
// SHA1 of secret + nonce + timestamp (plain concatenation, no HMAC; the body is
// not signed).
func Sign(secret, nonce, timestamp string) string {
	sum := sha1.Sum([]byte(secret + nonce + timestamp))
	return hex.EncodeToString(sum[:])
}

// maxNonce bounds nonces to at most 18 decimal digits, the documented limit.
var maxNonce = big.NewInt(1_000_000_000_000_000_000)

// newNonce returns a random decimal nonce of at most 18 digits from the
// operating system's CSPRNG.
func newNonce() (string, error) {
	n, err := rand.Int(rand.Reader, maxNonce)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}

// Units of the Timestamp header (ClientConfig.TimestampUnit). The service's
// docs say milliseconds; its official SDKs send seconds, which it accepts:
// seconds is the default, milliseconds the setting for a service that
// turns out to follow its docs.
const (
	TimestampSeconds      = "seconds"
	TimestampMilliseconds = "milliseconds"
)

// timestamp is the Timestamp header in unit (TimestampSeconds when "").
func timestamp(t time.Time, unit string) string {
	if unit == TimestampMilliseconds {
		return strconv.FormatInt(t.UnixMilli(), 10)
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// newRequestID returns a random RFC 4122 version 4 UUID (36 characters, the
// X-Request-ID limit) from the CSPRNG.
func newRequestID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}
