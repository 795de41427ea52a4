package campaign

import (
	"errors"
	"fmt"
)

// MaxIdempotencyKeyLen is the longest idempotency key, in bytes (visible
// ASCII: one byte a character).
const MaxIdempotencyKeyLen = 255

// IdempotencyKey is a client's key for one create (the admin API's
// Idempotency-Key header): a create retried under the same key, because
// its answer was lost, gets the campaign the first one created instead of
// a second campaign that fires too.
type IdempotencyKey struct {
	// Key is the client's key (CheckIdempotencyKey).
	Key string
	// RequestHash identifies what the campaign is created from (the admin
	// API: the SHA-256, in hex, of the request's media type and raw body).
	// A create under a key already used must carry the same hash; another
	// is the key reused for a different campaign, refused.
	RequestHash string
}

// IdempotencyKeyRule is the rule CheckIdempotencyKey enforces, as errors
// state it.
const IdempotencyKeyRule = "must be 1 to 255 characters of visible ASCII (0x21-0x7E: no space, no control or non-ASCII character)"

// CheckIdempotencyKey returns an error stating IdempotencyKeyRule when key
// breaks it.
func CheckIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKeyLen {
		return fmt.Errorf("%s, got %d bytes", IdempotencyKeyRule, len(key))
	}
	for i := range len(key) {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%s, got byte 0x%02X at offset %d", IdempotencyKeyRule, c, i)
		}
	}
	return nil
}

// ErrIdempotencyKeyReused is matched (errors.Is) by every
// *IdempotencyKeyReusedError.
var ErrIdempotencyKeyReused = errors.New("idempotency key reused with a different request")

// IdempotencyKeyReusedError reports a create under a key a campaign was
// already created under from a different request (another file, or the
// same file changed): nothing is created.
type IdempotencyKeyReusedError struct {
	Key        string
	CampaignID int64 // the campaign created under Key
}

func (e *IdempotencyKeyReusedError) Error() string {
	return fmt.Sprintf("idempotency key %q: reused with a different request (campaign %d was created under it from another request); use a new key for a new campaign", e.Key, e.CampaignID)
}

// Is makes errors.Is(err, ErrIdempotencyKeyReused) true.
func (e *IdempotencyKeyReusedError) Is(target error) bool { return target == ErrIdempotencyKeyReused }
