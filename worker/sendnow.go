package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/tagcast/tagcast/pushapi"
)

// SendNow sends one push for app through the quota guard, outside any
// campaign (`tagcast push send`): it validates req, reserves a slot (a
// *quota.NoRoomError, matched by errors.Is(err, quota.ErrNoRoom), when the
// window is closed: nothing is sent), calls the service, gives the slot back
// when the service definitively refused without sending, and blocks the app
// until the next window boundary after a 429/1008. The returned error is the
// pushapi error as is (classify it with pushapi.Classify).
//
// Such a push is not in the store, so it is not in the quota ledger either:
// if Redis loses the app's windows, a rebuild does not count it.
func SendNow(ctx context.Context, guard Guard, p Pusher, app string, req *pushapi.Request) (*pushapi.PushResponse, error) {
	if guard == nil || p == nil {
		return nil, errors.New("worker: send now: guard and pusher are required")
	}
	if req == nil {
		return nil, errors.New("worker: send now: nil request")
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("app %s: %w", app, err) // never reserve for a body the service would refuse
	}
	res, err := guard.Reserve(ctx, app)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", app, err)
	}
	out, perr := p.Push(ctx, req)
	if perr == nil {
		return out, nil
	}
	var errs []error
	var pe *pushapi.Error
	if errors.As(perr, &pe) {
		switch {
		case pe.NotSent():
			if err := guard.Release(context.WithoutCancel(ctx), res); err != nil {
				errs = append(errs, err)
			}
		case pe.Outcome() == pushapi.OutcomeRateLimited:
			if _, err := guard.BlockRateLimited(context.WithoutCancel(ctx), app, pe.RetryAfter); err != nil {
				errs = append(errs, err)
			}
		}
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
	Pusher Pusher
	App    string
}

// Push sends req through the guard (see SendNow).
func (g GuardedPusher) Push(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error) {
	return SendNow(ctx, g.Guard, g.Pusher, g.App, req)
}
