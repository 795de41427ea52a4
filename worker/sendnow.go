package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
)

// DirectLedger records pushes made outside any campaign in the store's quota
// ledger, so a rebuild of the quota windows counts them (*sqlstore.Store is
// one): begun as possibly sent before the call, then sent, unknown, or
// removed (failed: the service refused without sending).
type DirectLedger interface {
	BeginDirectAttempt(ctx context.Context, app string, at time.Time) (int64, error)
	EndDirectAttempt(ctx context.Context, id int64, outcome campaign.SendStatus) error
}

// NotCalledError is SendNow's error for a failure before the call (the
// quota guard's Redis, the ledger, a window with no room): the service was
// not called and nothing was sent. A *quota.NoRoomError is wrapped in one.
type NotCalledError struct {
	App string
	Err error
}

func (e *NotCalledError) Error() string { return "app " + e.App + ": nothing sent: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *NotCalledError) Unwrap() error { return e.Err }

// maxSlotLosses bounds how often SendNow reserves again after Redis lost
// the quota state between its reservation and its ledger entry.
const maxSlotLosses = 3

// SendNow sends one push for app through the quota guard, outside any
// campaign (`tagcast push send`): it validates req, reserves a slot (a
// *quota.NoRoomError, matched by errors.Is(err, quota.ErrNoRoom), when the
// window is closed: nothing is sent), records the attempt in ledger, calls
// the service, gives the slot back when the service definitively refused
// without sending, and blocks the app until the next window boundary after
// a 429/1008. A failure before the call is a *NotCalledError; otherwise
// the returned error is the pushapi error as is (classify it with
// pushapi.Classify).
//
// As a worker's claim does, the ledger entry is made before the call and
// the reservation is then checked to still hold (Guard.Held): if Redis lost
// the quota state in between, a rebuild may have read a ledger without this
// push, so the entry and the slot go back and the push reserves again. With
// a nil ledger the push is in no ledger, and a rebuild of the windows does
// not count it.
func SendNow(ctx context.Context, guard Guard, ledger DirectLedger, p Pusher, app string, req *pushapi.Request) (*pushapi.PushResponse, error) {
	if guard == nil || p == nil {
		return nil, errors.New("worker: send now: guard and pusher are required")
	}
	if req == nil {
		return nil, errors.New("worker: send now: nil request")
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("app %s: %w", app, err) // never reserve for a body the service would refuse
	}
	for losses := 0; ; losses++ {
		res, err := guard.ReserveFor(ctx, app, quota.Waiter{})
		if err != nil {
			return nil, &NotCalledError{App: app, Err: err}
		}
		if ledger == nil {
			return push(ctx, guard, p, app, req, res, nil)
		}
		entry, err := ledger.BeginDirectAttempt(ctx, app, res.At)
		if err != nil {
			return nil, &NotCalledError{App: app, Err: errors.Join(fmt.Errorf("quota ledger: %w", err), guard.Release(context.WithoutCancel(ctx), res))}
		}
		// A rebuild from here on seeds the attempt under its entry's name:
		// Held finds the slot there, and a release gives it back.
		res = res.Direct(entry)
		held, err := guard.Held(ctx, res)
		if err == nil && held {
			end := func(outcome campaign.SendStatus) error {
				return ledger.EndDirectAttempt(context.WithoutCancel(ctx), entry, outcome)
			}
			return push(ctx, guard, p, app, req, res, end)
		}
		// Not called: the entry goes (failed removes it) and the slot back.
		back := errors.Join(ledger.EndDirectAttempt(context.WithoutCancel(ctx), entry, campaign.SendFailed),
			guard.Release(context.WithoutCancel(ctx), res))
		switch {
		case err != nil:
			return nil, &NotCalledError{App: app, Err: errors.Join(err, back)}
		case back != nil:
			return nil, &NotCalledError{App: app, Err: fmt.Errorf("the quota state was lost, or the slot too old, before the call: %w", back)}
		case losses+1 >= maxSlotLosses:
			return nil, &NotCalledError{App: app, Err: fmt.Errorf("the quota state was lost, or the slot too old, before the call %d times", losses+1)}
		}
	}
}

// push makes SendNow's call on the slot res and settles it: the slot goes
// back when the service refused without sending, a 429 blocks the app, and
// end (nil: no ledger) records the outcome.
func push(ctx context.Context, guard Guard, p Pusher, app string, req *pushapi.Request, res quota.Reservation, end func(campaign.SendStatus) error) (*pushapi.PushResponse, error) {
	out, perr := p.Push(ctx, req)
	var errs []error
	outcome := campaign.SendSent
	var pe *pushapi.Error
	switch {
	case perr == nil:
	case errors.As(perr, &pe) && pe.NotSent():
		outcome = campaign.SendFailed
		if pe.Outcome() == pushapi.OutcomeRetry && pe.RetryAfter > 0 {
			// A 503's announced outage holds every send of the app, as
			// a worker's send does; the slot goes back after the hold.
			if _, err := guard.HoldFor(context.WithoutCancel(ctx), app, pe.RetryAfter); err != nil {
				errs = append(errs, err)
			}
		}
		if err := guard.Release(context.WithoutCancel(ctx), res); err != nil {
			errs = append(errs, err)
		}
	case errors.As(perr, &pe) && pe.Outcome() == pushapi.OutcomeRateLimited:
		// Refused, counted nothing: the app is blocked, then the slot
		// goes back and the attempt leaves the ledger (as a worker's).
		outcome = campaign.SendFailed
		if _, err := guard.BlockRateLimited(context.WithoutCancel(ctx), app, pe.RetryAfter); err != nil {
			errs = append(errs, err)
		}
		if err := guard.Release(context.WithoutCancel(ctx), res); err != nil {
			errs = append(errs, err)
		}
	default:
		outcome = campaign.SendUnknown
		switch {
		case errors.As(perr, &pe) && pe.RateLimited(): // after a fail-over hop: unknown, and the app held
			if _, err := guard.BlockRateLimited(context.WithoutCancel(ctx), app, pe.RetryAfter); err != nil {
				errs = append(errs, err)
			}
		case pe != nil && pe.Outcome() == pushapi.OutcomeRetry && pe.RetryAfter > 0:
			// An announced outage holds every send of the app, as a
			// worker's send does.
			if _, err := guard.HoldFor(context.WithoutCancel(ctx), app, pe.RetryAfter); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if end != nil {
		if err := end(outcome); err != nil && perr != nil {
			// A push that was sent is reported as sent: the ledger keeps it
			// as possibly sent, which counts the same.
			errs = append(errs, err)
		}
	}
	if perr == nil {
		return out, nil
	}
	if len(errs) > 0 {
		return nil, errors.Join(append([]error{perr}, errs...)...)
	}
	return nil, perr
}

// GuardedPusher is a Pusher whose every call goes through SendNow: a drop-in
// for a *pushapi.Client where one push is sent outside a campaign.
type GuardedPusher struct {
	Guard  Guard
	Ledger DirectLedger // nil: the push is in no ledger
	Pusher Pusher
	App    string
}

// Push sends req through the guard (see SendNow).
func (g GuardedPusher) Push(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
	return SendNow(ctx, g.Guard, g.Ledger, g.Pusher, g.App, req)
}
