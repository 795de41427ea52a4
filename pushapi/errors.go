package pushapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Service codes of the Server API (push-api-facts.md). The HTTP status the
// service answers with is given by HTTPStatusForCode.
const (
	CodeOK               = 200  // success (HTTP 200)
	CodeInternal         = 1000 // internal error, retry later (HTTP 500)
	CodeAppKeyMismatch   = 1001 // App Key / App Secret mismatch (HTTP 401)
	CodeParam            = 1002 // parameter error, the message names it (HTTP 400)
	CodeNoPostData       = 1003 // no POST data (HTTP 400)
	CodeSignature        = 1004 // signature error (HTTP 401)
	CodeTooLong          = 1005 // parameter too long (HTTP 400)
	CodeAppLocked        = 1006 // app locked or deleted (HTTP 401)
	CodeRestricted       = 1007 // method restricted / IP restriction (HTTP 401)
	CodeRateLimited      = 1008 // rate limit exceeded (HTTP 429)
	CodeNotEnabled       = 1009 // service not enabled (HTTP 430)
	CodeServiceTimeout   = 1050 // internal service timeout (HTTP 504)
	StatusNotEnabled     = 430  // the service's non-standard HTTP status for CodeNotEnabled
	maxResponseBodyBytes = 1 << 20
)

// HTTPStatusForCode returns the HTTP status the service answers a code with
// (0 for a code it does not document). The emulator uses it so that both
// sides agree.
func HTTPStatusForCode(code int) int {
	switch code {
	case CodeOK:
		return http.StatusOK
	case CodeInternal:
		return http.StatusInternalServerError
	case CodeAppKeyMismatch, CodeSignature, CodeAppLocked, CodeRestricted:
		return http.StatusUnauthorized
	case CodeParam, CodeNoPostData, CodeTooLong:
		return http.StatusBadRequest
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeNotEnabled:
		return StatusNotEnabled
	case CodeServiceTimeout:
		return http.StatusGatewayTimeout
	}
	return 0
}

// Outcome is the class of a call's result that the worker acts on (DESIGN.md).
type Outcome string

// The outcome classes.
const (
	// OutcomeSent: HTTP 200 with code 200; record messageUID and id.
	OutcomeSent Outcome = "sent"
	// OutcomeRetry: 1000, 1050, HTTP 5xx, or a network error before the
	// request was fully written. Safe to send again after a backoff.
	OutcomeRetry Outcome = "retry"
	// OutcomeRateLimited: HTTP 429 / code 1008. Wait for the quota window; no
	// attempt spent.
	OutcomeRateLimited Outcome = "rate_limited"
	// OutcomeFailed: 1001-1007, 1009, HTTP 430, other 4xx and 3xx, or an
	// invalid request. Permanent; never retried automatically.
	OutcomeFailed Outcome = "failed"
	// OutcomeUnknown: a timeout or reset after the request was written, or a
	// success status whose body cannot be read. The service may have sent the
	// push; never re-sent automatically.
	OutcomeUnknown Outcome = "unknown"
)

// Error is the one error type of a Server API call. Every error returned by a
// Client method is an *Error (a rejected request wraps a *ValidationError). It
// never contains the App Secret.
type Error struct {
	Path       string // API path, e.g. "/push.json"
	HTTPStatus int    // 0 when no response was received
	Code       int    // the body's code, 0 when there was no readable JSON body
	Message    string // the body's errorMessage, or a description of what went wrong
	Host       string // base URL of the host of the last attempt
	RequestID  string // X-Request-ID, the same for every attempt of one call
	// MayHaveReached is true when any attempt of the call may have been acted
	// on by the service: the request was (or may have been) fully written and
	// no definitive refusal came back (a timeout or reset after writing, a
	// 5xx but a 503 without a service code, an unreadable 2xx). The quota
	// ledger counts such calls.
	MayHaveReached bool
	// RetryAfter is the service's Retry-After header (seconds or HTTP date),
	// 0 when absent.
	RetryAfter time.Duration
	Err        error // the cause: network error, context error, JSON error, *ValidationError
	// Attempts is the number of hosts tried (1, or 2 after a fail-over hop).
	Attempts int

	lastWritten bool // the last attempt's request was (or may have been) fully written
	transport   bool // the last attempt failed in transport (network error, timeout), not by an answer
}

// Error describes the call: path, host, request id, status, code and message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("pushapi: ")
	if e.Path != "" {
		b.WriteString(e.Path)
	}
	if e.Host != "" {
		b.WriteString(" at " + e.Host)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, ": code %d", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// RateLimited reports whether the service answered 429 or code 1008,
// whatever an earlier hop of the call met: the App Key's window is full
// (or the service is not enabled and was called again), so callers hold
// every send of the app.
func (e *Error) RateLimited() bool { return e.answered() == OutcomeRateLimited }

// Outcome classifies the error (see Classify). A 429/1008 after a
// fail-over hop whose first host may have acted (the client hops only when
// it did not: nothing written, or a 503 without a service code; the tag
// APIs after any 5xx) is
// OutcomeUnknown: the first host may have pushed it, and the 429 was
// likely for that push's slot, so it must not read as "not sent, send
// again".
func (e *Error) Outcome() Outcome {
	o := e.answered()
	if o == OutcomeRateLimited && e.MayHaveReached {
		return OutcomeUnknown
	}
	return o
}

// answered classifies the last attempt's answer.
func (e *Error) answered() Outcome {
	var ve *ValidationError
	if errors.As(e.Err, &ve) && e.HTTPStatus == 0 {
		return OutcomeFailed // rejected before sending
	}
	switch e.Code {
	case CodeInternal, CodeServiceTimeout:
		return OutcomeRetry
	case CodeRateLimited:
		return OutcomeRateLimited
	case CodeAppKeyMismatch, CodeParam, CodeNoPostData, CodeSignature, CodeTooLong,
		CodeAppLocked, CodeRestricted, CodeNotEnabled:
		return OutcomeFailed
	}
	s := e.HTTPStatus
	switch {
	case s == 0:
		// A transport failure of the last attempt before its request was
		// written is retryable even when an earlier attempt may have
		// reached the service: the client hops only after a retryable
		// attempt (an unwritten request, a 503 without a service code; for
		// the tag APIs a 5xx).
		if e.MayHaveReached && (!e.transport || e.lastWritten) {
			return OutcomeUnknown
		}
		return OutcomeRetry
	case s == http.StatusTooManyRequests:
		return OutcomeRateLimited
	case s == StatusNotEnabled:
		return OutcomeFailed
	case s >= 500:
		return OutcomeRetry
	case s >= 300:
		return OutcomeFailed
	case s >= 200 && e.Code != 0:
		return OutcomeFailed // a success status with an error code the service refused with
	default:
		return OutcomeUnknown // a success status without a readable body, or 1xx
	}
}

// refused reports whether the last answer was a definitive refusal: the
// service (or something in front of it) answered and did not act on the call.
func (e *Error) refused() bool {
	switch e.answered() {
	case OutcomeFailed, OutcomeRateLimited:
		return e.HTTPStatus != 0
	}
	return false
}

// unavailable reports a 503 without a service code: HTTP's "unable to handle
// the request" from something in front of the service (a gateway, a host
// out of service), which did not act on it. A 503 carrying the service's
// own code (1000, 1050) came from the service's handling, which may have
// pushed first: it is held as any other 5xx.
func (e *Error) unavailable() bool {
	return e.HTTPStatus == http.StatusServiceUnavailable && e.Code == 0
}

// NotSent reports whether the service definitively refused the call without
// sending anything: an invalid request rejected locally, a network failure
// before any attempt's request was written, codes 1001-1007 and 1009, HTTP
// 430, 4xx statuses other than 429, and a 503 without a service code (not
// acted on: unavailable) — and no earlier attempt of the call
// may have reached the service. Rate limiting (429/1008) is not
// included (the worker blocks the app, then gives the slot back), nor are
// redirects or a success status with an unknown code (conservative: the
// reservation is kept). The quota guard releases its reservation when NotSent
// is true.
func (e *Error) NotSent() bool {
	var ve *ValidationError
	if errors.As(e.Err, &ve) && e.HTTPStatus == 0 {
		return true
	}
	if e.MayHaveReached || e.Code == CodeRateLimited {
		return false
	}
	if e.HTTPStatus == 0 {
		// No answer, and no attempt's request was (or may have been)
		// written: nothing left this host.
		return e.Outcome() == OutcomeRetry
	}
	if e.unavailable() {
		return true
	}
	switch e.Code {
	case CodeAppKeyMismatch, CodeParam, CodeNoPostData, CodeSignature, CodeTooLong,
		CodeAppLocked, CodeRestricted, CodeNotEnabled:
		return true
	case CodeInternal, CodeServiceTimeout:
		return false
	}
	return e.HTTPStatus >= 400 && e.HTTPStatus < 500 && e.HTTPStatus != http.StatusTooManyRequests
}

// Classify maps any result of a Client call to DESIGN.md's outcome classes:
// nil is OutcomeSent; an *Error (anywhere in the chain) classifies itself; a
// bare *ValidationError is OutcomeFailed; any other error is OutcomeUnknown
// (the conservative class: not re-sent automatically).
func Classify(err error) Outcome {
	if err == nil {
		return OutcomeSent
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Outcome()
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return OutcomeFailed
	}
	return OutcomeUnknown
}

// parseRetryAfter reads a Retry-After header: delta seconds or an HTTP date
// (relative to now). Absent, malformed or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
