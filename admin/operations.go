package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// OperationsStore is the part of campaign.Store that StoreOperations uses.
type OperationsStore interface {
	Pause(ctx context.Context, id int64, now time.Time) (campaign.Campaign, error)
	Resume(ctx context.Context, id int64, now time.Time) (campaign.Campaign, error)
	Cancel(ctx context.Context, id int64, now time.Time) (campaign.Cancellation, error)
	ResetForRetry(ctx context.Context, runID int64, opts campaign.RetryOptions, now time.Time) (int, error)
}

// StoreOperations implements Operations directly on the store, for
// processes without the scheduler's operations facade. Resume keeps
// next_run_at, so the scheduler's missed-fire policy decides what fell in
// the pause; Retry re-opens the run as pending and not enqueued, and the
// scheduler's reconciler enqueues it on its next pass (the facade enqueues
// at once).
type StoreOperations struct {
	Store OperationsStore
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ Operations = StoreOperations{}

func (o StoreOperations) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// Pause stops the campaign's fires.
func (o StoreOperations) Pause(ctx context.Context, id int64) (campaign.Campaign, error) {
	return o.Store.Pause(ctx, id, o.now())
}

// Resume re-activates a paused campaign.
func (o StoreOperations) Resume(ctx context.Context, id int64) (campaign.Campaign, error) {
	return o.Store.Resume(ctx, id, o.now())
}

// Cancel cancels the campaign, its unfinished runs and their unsent sends,
// and says how many of each.
func (o StoreOperations) Cancel(ctx context.Context, id int64) (campaign.Cancellation, error) {
	return o.Store.Cancel(ctx, id, o.now())
}

// Retry resets the run's failed and expired (and, when asked, unknown) sends;
// none is an error matching campaign.ErrNothingToRetry.
func (o StoreOperations) Retry(ctx context.Context, runID int64, opts campaign.RetryOptions) (int, error) {
	n, err := o.Store.ResetForRetry(ctx, runID, opts, o.now())
	switch {
	case err != nil:
		return 0, fmt.Errorf("retry run %d: %w", runID, err)
	case n == 0:
		return 0, fmt.Errorf("retry run %d: %w", runID, campaign.ErrNothingToRetry)
	}
	return n, nil
}
