package campaign

import (
	"errors"
	"fmt"
	"time"
)

// MaxIdempotencyKeyLen is the longest idempotency key, in bytes (visible
// ASCII: one byte a character).
const MaxIdempotencyKeyLen = 255

// IdempotencyKey is a client's key for one create or one operator retry
// (the admin API's Idempotency-Key header): a create retried under the
// same key, because its answer was lost, gets the campaign the first one
// created instead of a second campaign that fires too; a retry sent again
// under its key re-opens no run the first one re-opened (RetryOptions).
type IdempotencyKey struct {
	// Key is the client's key (CheckIdempotencyKey).
	Key string
	// RequestHash identifies the request (for a create, the admin API
	// hashes the request's media type and raw body: SHA-256, in hex; for a
	// retry, what it retries). A request under a key already used must
	// carry the same hash; another is the key reused for a different
	// request, refused.
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
// same file changed): nothing is created. For a retry's key it reports the
// key used before for another retry (of another campaign or run, or with
// or without unknown sends): nothing is re-opened.
type IdempotencyKeyReusedError struct {
	Key        string
	CampaignID int64 // the campaign created under Key
	// Retry, for a retry's key (RetryOptions.Key), says what run the key
	// re-opened: nothing is re-opened.
	Retry string
}

func (e *IdempotencyKeyReusedError) Error() string {
	if e.Retry != "" {
		return fmt.Sprintf("idempotency key %q: reused with a different request (it was used for %s); use a new key for a new retry", e.Key, e.Retry)
	}
	return fmt.Sprintf("idempotency key %q: reused with a different request (campaign %d was created under it from another request); use a new key for a new campaign", e.Key, e.CampaignID)
}

// Is makes errors.Is(err, ErrIdempotencyKeyReused) true.
func (e *IdempotencyKeyReusedError) Is(target error) bool { return target == ErrIdempotencyKeyReused }

// ErrRetriedUnderKey is matched (errors.Is) by every *RetriedUnderKeyError.
var ErrRetriedUnderKey = errors.New("run already re-opened under this idempotency key")

// RetriedUnderKeyError reports a run a retry under an idempotency key
// (RetryOptions.Key) did not re-open because a retry under the same key
// already did: the run is left as it is.
type RetriedUnderKeyError struct {
	Key   string
	RunID int64
	Reset int // the sends the earlier retry re-opened
	At    time.Time
}

func (e *RetriedUnderKeyError) Error() string {
	return fmt.Sprintf("run %d: already re-opened under idempotency key %q (%d sends, %s): not re-opened again",
		e.RunID, e.Key, e.Reset, e.At.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrRetriedUnderKey) true.
func (e *RetriedUnderKeyError) Is(target error) bool { return target == ErrRetriedUnderKey }
