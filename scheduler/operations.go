package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
)

// ErrNothingToRetry is campaign.ErrNothingToRetry, matched (errors.Is) when
// a retry found no failed, expired (or, when asked, unknown) send in the run.
var ErrNothingToRetry = campaign.ErrNothingToRetry

// OperationsConfig configures Operations. Store and Queue are required;
// Inspector lets Retry replace the run's finished task at once (without it
// the reconciler does, on its next pass).
type OperationsConfig struct {
	Store        campaign.Store
	Queue        queue.Enqueuer
	Inspector    Inspector
	QueueOptions queue.Options
	Clock        Clock
	Logger       zerolog.Logger
}

// Operations are what operators do to campaigns and runs (the admin API and
// the CLI call them): create, pause, resume, cancel and retry.
type Operations struct {
	cfg   OperationsConfig
	queue taskQueue
}

// NewOperations checks cfg and fills its defaults.
func NewOperations(cfg OperationsConfig) (*Operations, error) {
	if cfg.Store == nil {
		return nil, errors.New("operations: Store is required")
	}
	if cfg.Queue == nil {
		return nil, errors.New("operations: Queue is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	cfg.Logger = cfg.Logger.With().Str("component", "operations").Logger()
	return &Operations{cfg: cfg, queue: taskQueue{client: cfg.Queue, inspector: cfg.Inspector, opts: cfg.QueueOptions, runs: cfg.Store}}, nil
}

// Create stores a validated campaign (campaign.ParseFile or Validate have
// set its first next_run_at, by campaign's one fire-time calculator).
func (o *Operations) Create(ctx context.Context, c campaign.Campaign) (campaign.Campaign, error) {
	now := o.cfg.Clock.Now()
	out, err := o.cfg.Store.Create(ctx, c, now)
	if err != nil {
		return out, err
	}
	o.cfg.Logger.Info().Int64("campaign", out.ID).Str("app", out.App).Str("name", out.Name).Msg("campaign created")
	return out, nil
}

// Pause stops a campaign's fires. Runs already created still send.
func (o *Operations) Pause(ctx context.Context, id int64) (campaign.Campaign, error) {
	c, err := o.cfg.Store.Pause(ctx, id, o.cfg.Clock.Now())
	if err != nil {
		return c, err
	}
	o.cfg.Logger.Info().Int64("campaign", id).Msg("campaign paused")
	return c, nil
}

// Resume re-activates a paused campaign. Its next_run_at still holds the
// first fire that fell in the pause, so the scheduler's next claim applies
// the campaign's missed policy to the pause: `skip` drops those fires and
// continues at the next future one, `once` fires the latest of them once
// (expired when past deliver_within; not at all when the next fire is due
// within MissedAfter, which stands for it). A fire that fell less than
// MissedAfter ago is simply late and fires.
func (o *Operations) Resume(ctx context.Context, id int64) (campaign.Campaign, error) {
	c, err := o.cfg.Store.Resume(ctx, id, o.cfg.Clock.Now())
	if err != nil {
		return c, err
	}
	o.cfg.Logger.Info().Int64("campaign", id).Str("missed", string(c.Schedule.Missed)).Msg("campaign resumed")
	return c, nil
}

// Cancel stops a campaign for good: no more fires, its unfinished runs and
// unsent sends are cancelled (a worker holding one stops before its next
// send; a send already in flight still records its outcome). It returns
// how many runs and unsent sends the cancel cancelled.
func (o *Operations) Cancel(ctx context.Context, id int64) (campaign.Cancellation, error) {
	c, err := o.cfg.Store.Cancel(ctx, id, o.cfg.Clock.Now())
	if err != nil {
		return c, err
	}
	o.cfg.Logger.Info().Int64("campaign", id).Int("cancelled_runs", c.CancelledRuns).Int("cancelled_sends", c.CancelledSends).Msg("campaign cancelled")
	return c, nil
}

// Retry re-opens a settled run: its failed and expired sends, and its
// unknown ones only when opts.Unknown (they may have been delivered),
// go back to pending and the run is enqueued again. It returns the number
// of sends reset; none is an error matching ErrNothingToRetry. When the
// enqueue fails after the reset, the error says so and the reconciler
// enqueues the run on its next pass.
func (o *Operations) Retry(ctx context.Context, runID int64, opts campaign.RetryOptions) (int, error) {
	now := o.cfg.Clock.Now()
	n, err := o.cfg.Store.ResetForRetry(ctx, runID, opts, now)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		what := "failed or expired"
		if opts.Unknown {
			what = "failed, expired or unknown"
		}
		return 0, fmt.Errorf("run %d: no %s send: %w", runID, what, ErrNothingToRetry)
	}
	if _, err := o.queue.enqueue(ctx, queue.RunSendPayload{RunID: runID}, time.Time{}, true); err != nil {
		return n, fmt.Errorf("run %d: %d sends reset, but the enqueue failed (the reconciler will enqueue it): %w", runID, n, err)
	}
	if err := o.cfg.Store.MarkRunEnqueued(ctx, runID, o.cfg.Clock.Now()); err != nil {
		return n, fmt.Errorf("run %d: %d sends reset and enqueued: %w", runID, n, err)
	}
	o.cfg.Logger.Info().Int64("run", runID).Int("sends", n).Bool("unknown", opts.Unknown).Msg("run retried")
	return n, nil
}
