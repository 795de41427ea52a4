package campaign

import (
	"errors"
	"fmt"
)

// CampaignStatus is the life cycle of a campaign's schedule. The statuses and
// the transitions between them are drawn in docs/state-machine.md; the table
// in this file is the only place that decides which moves are allowed.
type CampaignStatus string

// Campaign statuses.
const (
	// CampaignActive: the campaign fires at next_run_at.
	CampaignActive CampaignStatus = "active"
	// CampaignPaused: no fires; resume applies the missed-fire policy to what fell in the pause.
	CampaignPaused CampaignStatus = "paused"
	// CampaignCancelled: no more fires; its pending sends were cancelled. Terminal.
	CampaignCancelled CampaignStatus = "cancelled"
	// CampaignDone: the schedule is exhausted (a one-off fired, or a cron passed its end).
	// Runs it created may still be sending.
	CampaignDone CampaignStatus = "done"
)

// RunStatus is the life cycle of one fire of a campaign.
type RunStatus string

// Run statuses.
const (
	// RunPending: created by the scheduler, waiting for a worker (or re-opened by retry).
	RunPending RunStatus = "pending"
	// RunRunning: a worker is sending it.
	RunRunning RunStatus = "running"
	// RunDone: every send was sent.
	RunDone RunStatus = "done"
	// RunPartiallyFailed: some sends were sent, others failed, expired or are unknown.
	RunPartiallyFailed RunStatus = "partially_failed"
	// RunFailed: no send was sent; at least one failed or is unknown.
	RunFailed RunStatus = "failed"
	// RunExpired: nothing was sent within deliver_within.
	RunExpired RunStatus = "expired"
	// RunCancelled: the campaign was cancelled before the run finished. Terminal.
	RunCancelled RunStatus = "cancelled"
)

// SendStatus is the life cycle of one /push.json call.
type SendStatus string

// Send statuses.
const (
	// SendPending: waiting to be claimed by a worker.
	SendPending SendStatus = "pending"
	// SendInFlight: claimed by exactly one worker, under a lease.
	SendInFlight SendStatus = "in_flight"
	// SendSent: the service accepted it (push id and messageUID recorded). Terminal.
	SendSent SendStatus = "sent"
	// SendRetryWait: a retryable error; claimable again from next_attempt_at.
	SendRetryWait SendStatus = "retry_wait"
	// SendFailed: the service refused it permanently (code and message recorded).
	SendFailed SendStatus = "failed"
	// SendUnknown: the request may have reached the service; never re-sent automatically.
	SendUnknown SendStatus = "unknown"
	// SendCancelled: the campaign was cancelled before it was sent. Terminal.
	SendCancelled SendStatus = "cancelled"
	// SendExpired: deliver_within passed before it was attempted.
	SendExpired SendStatus = "expired"
)

// Status is any of the three status types.
type Status interface {
	CampaignStatus | RunStatus | SendStatus
}

// transitions is THE table of allowed moves, per entity: from -> allowed
// targets. docs/state-machine.md draws exactly these edges (a test checks).
var transitions = map[string]map[string][]string{
	"campaign": {
		"active":    {"paused", "cancelled", "done"},
		"paused":    {"active", "cancelled"},
		"done":      {"cancelled", "paused"}, // cancel stops runs still sending; pause only while a fire claimed ahead is not yet due
		"cancelled": {},
	},
	"run": {
		"pending":          {"running", "expired", "cancelled", "partially_failed", "failed"}, // the last two: a retried run expiring unstarted keeps its earlier outcomes
		"running":          {"done", "partially_failed", "failed", "expired", "cancelled"},
		"done":             {},
		"partially_failed": {"pending", "done"},                     // operator retry; a late answer
		"failed":           {"pending", "done", "partially_failed"}, // operator retry; a late answer
		"expired":          {"pending"},                             // operator retry
		"cancelled":        {},
	},
	"send": {
		"pending":    {"in_flight", "cancelled", "expired"},
		"in_flight":  {"sent", "retry_wait", "failed", "unknown", "pending", "expired", "cancelled"},
		"retry_wait": {"in_flight", "cancelled", "expired"},
		"sent":       {},
		"failed":     {"pending"},                                 // operator retry
		"unknown":    {"pending", "sent", "retry_wait", "failed"}, // operator retry, only when asked explicitly, or its own claim's give-back; the late answer of its own claim
		"expired":    {"pending"},                                 // operator retry
		"cancelled":  {},
	},
}

// entityOf names the table row of a status type.
func entityOf[S Status]() string {
	var s S
	switch any(s).(type) {
	case CampaignStatus:
		return "campaign"
	case RunStatus:
		return "run"
	default:
		return "send"
	}
}

// CanTransition reports whether moving from one status to another is allowed.
func CanTransition[S Status](from, to S) bool {
	for _, t := range transitions[entityOf[S]()][string(from)] {
		if t == string(to) {
			return true
		}
	}
	return false
}

// AllowedFrom lists the statuses from which to can be reached, in a stable
// order. Stores use it to build compare-and-set updates
// (UPDATE ... WHERE status IN (AllowedFrom(to))).
func AllowedFrom[S Status](to S) []S {
	var out []S
	for _, from := range Statuses[S]() {
		if CanTransition(from, to) {
			out = append(out, from)
		}
	}
	return out
}

// Statuses lists every status of a type in declaration order.
func Statuses[S Status]() []S {
	var names []string
	switch entityOf[S]() {
	case "campaign":
		names = []string{"active", "paused", "cancelled", "done"}
	case "run":
		names = []string{"pending", "running", "done", "partially_failed", "failed", "expired", "cancelled"}
	default:
		names = []string{"pending", "in_flight", "sent", "retry_wait", "failed", "unknown", "cancelled", "expired"}
	}
	out := make([]S, len(names))
	for i, n := range names {
		out[i] = S(n)
	}
	return out
}

// Valid reports whether s is one of the declared statuses of its type.
func Valid[S Status](s S) bool {
	_, ok := transitions[entityOf[S]()][string(s)]
	return ok
}

// ErrIllegalTransition is matched (errors.Is) by every *TransitionError.
var ErrIllegalTransition = errors.New("illegal status transition")

// ErrNotFound is matched (errors.Is) by every *NotFoundError.
var ErrNotFound = errors.New("not found")

// ErrNothingToRetry is matched (errors.Is) by a retry that found no send
// to re-open: no failed or expired one (nor unknown, when asked).
var ErrNothingToRetry = errors.New("nothing to retry")

// TransitionError reports a status change the state machine does not allow,
// or a compare-and-set that lost (the row was no longer in an expected state).
type TransitionError struct {
	Entity string // "campaign", "run" or "send"
	ID     int64
	From   string // the status found
	To     string // the status asked for
	Reason string // optional detail, e.g. "claimed by another worker"
}

func (e *TransitionError) Error() string {
	msg := fmt.Sprintf("%s %d: cannot move from %s to %s", e.Entity, e.ID, e.From, e.To)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is makes errors.Is(err, ErrIllegalTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

// PlanError reports a due campaign that ClaimDue left as it was: its plan
// failed, or the next fire it planned would not advance next_run_at. The
// other due campaigns of the call were still claimed.
type PlanError struct {
	CampaignID int64
	Err        error
}

func (e *PlanError) Error() string { return fmt.Sprintf("campaign %d: plan: %v", e.CampaignID, e.Err) }

func (e *PlanError) Unwrap() error { return e.Err }

// NotFoundError reports a missing campaign, run or send.
type NotFoundError struct {
	Entity string
	ID     int64
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %d: not found", e.Entity, e.ID) }

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }
