package worker

import (
	"errors"
	"fmt"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
)

// decision is what one attempt's result means for the send, the quota and
// the run.
type decision struct {
	// class is pushapi's outcome class of the result.
	class pushapi.Outcome
	// record ends the claim: sent, retry_wait, failed, unknown, or pending
	// (rate limited: the claim is released and the attempt not spent).
	record campaign.Outcome
	// releaseQuota gives the reservation back: the service definitively
	// did not send.
	releaseQuota bool
	// blockApp blocks the app until the next window boundary (or
	// retryAfter, when longer): the service answered 429/1008.
	blockApp   bool
	retryAfter time.Duration
	// holdFor, when set, keeps every send of the app from calling for that
	// long: a retryable answer (5xx, 1000, 1050) with a Retry-After says
	// the service is down that long, for every caller.
	holdFor time.Duration
	// code labels metrics and logs: the service's code, else the HTTP
	// status, else 0.
	code int
}

// decide maps the result of the attempt-th call of a send (res, err from
// pushapi) to what happens next. It is the one place where outcome classes
// become behaviour. jitter is uniform in [0, 1).
func decide(res *pushapi.PushResponse, err error, attempt int, now time.Time, b Backoff, jitter float64) decision {
	b = b.withDefaults()
	d := decision{class: pushapi.Classify(err), record: campaign.Outcome{At: now}}
	if err == nil {
		d.code = pushapi.CodeOK
		d.record.Status = campaign.SendSent
		d.record.Code = pushapi.CodeOK
		if res != nil {
			d.record.PushID, d.record.MessageUID = res.ID, res.MessageUID
		}
		return d
	}
	var pe *pushapi.Error
	if errors.As(err, &pe) {
		d.code = pe.Code
		if d.code == 0 {
			d.code = pe.HTTPStatus
		}
		d.retryAfter = pe.RetryAfter
		d.releaseQuota = pe.NotSent() // includes a network error before the request was written
		// A 429/1008 holds the app, after a fail-over hop too (then the
		// call is unknown: the first host may have pushed it).
		d.blockApp = pe.RateLimited()
	}
	d.record.Code = d.code
	d.record.Message = err.Error()
	switch d.class {
	case pushapi.OutcomeRetry:
		if d.retryAfter > 0 {
			d.holdFor = min(d.retryAfter, maxRetryAfter)
		}
		if attempt >= b.MaxAttempts {
			// Counted and logged as what it now is: a failed send.
			d.class = pushapi.OutcomeFailed
			d.record.Status = campaign.SendFailed
			d.record.Message = fmt.Sprintf("giving up after %d attempts: %s", attempt, err)
			break
		}
		d.record.Status = campaign.SendRetryWait
		// A Retry-After on a 5xx (or 1000, 1050) asks for at least that
		// long: honour it when it is longer than the backoff, up to
		// maxRetryAfter (beyond, it says more about the server's clock or a
		// maintenance page than about when to call again). The app's hold
		// (holdFor) keeps its other sends waiting too; should it fail to be
		// written, this send still waits. An operator's unblock frees it
		// with the rest (quota.Guard.Unblock: the store's ClearBlock).
		d.record.NextAttempt = now.Add(max(b.Delay(attempt, jitter), d.holdFor))
	case pushapi.OutcomeRateLimited:
		// One host refused the call and counted nothing: its slot goes
		// back once the app is blocked (the block, not the slot, does the
		// waiting). Kept, it counted in the guard's windows (and not in the
		// ledger) for its whole day: a 1008 of an app not yet enabled, or
		// one caused by another client's pushes, cost the app a push the
		// service would have taken. (After a fail-over hop the class is
		// unknown: the send is never re-sent automatically, its slot kept
		// and ledgered, as the default case does.)
		d.record.Status = campaign.SendPending
		d.releaseQuota = true
	case pushapi.OutcomeFailed:
		d.record.Status = campaign.SendFailed
	default: // unknown: the service may have sent it
		d.class = pushapi.OutcomeUnknown
		d.record.Status = campaign.SendUnknown
		d.releaseQuota = false
	}
	// A kept reservation is in the ledger too, so a rebuild counts it.
	d.record.KeepsQuota = !d.releaseQuota
	return d
}
