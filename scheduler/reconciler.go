package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
)

// Defaults of ReconcilerConfig.
const (
	DefaultReconcileInterval  = 10 * time.Second
	DefaultReconcileBatchSize = 500
)

// ReconcilerConfig configures a Reconciler. Store, Queue and Inspector are
// required.
type ReconcilerConfig struct {
	Store        campaign.Store
	Queue        queue.Enqueuer
	Inspector    Inspector
	QueueOptions queue.Options
	Clock        Clock // default SystemClock
	Logger       zerolog.Logger
	// Interval between passes (default 10 s).
	Interval time.Duration
	// BatchSize is the page size of the store queries (default 500).
	BatchSize int
	// OnStaleSend, if set, is called once for every send a pass settles
	// unknown because its lease lapsed (the store hands each such send to
	// the one caller that settled it), e.g. to count them in a metric.
	OnStaleSend func(campaign.Send)
	// OnExpiredRun, if set, is called with every run a pass expires (its
	// deliver_within passed before it could start), e.g. to count them.
	OnExpiredRun func(campaign.Run)
}

// Reconciler makes the queue agree with the store: every open run has a
// live task. It re-enqueues runs the scheduler never enqueued (a crash
// between commit and enqueue), runs whose task vanished (Redis flushed or
// restarted empty) or finished while the run is open again, and the runs of
// sends stuck in flight past their lease, after settling those sends as
// unknown (the call may have reached the service). Every step is idempotent,
// so any number of replicas may reconcile at once.
//
// The caller keeps the queue registered (queue.Register before each pass,
// as tagcast's reconcile loop does): after a FLUSHALL, asynq clients that
// published the queue once do not add it again, the Inspector then answers
// "queue not found" for every task, and an archived task cannot be told
// from a live one.
type Reconciler struct {
	cfg   ReconcilerConfig
	queue taskQueue
}

// NewReconciler checks cfg and fills its defaults.
func NewReconciler(cfg ReconcilerConfig) (*Reconciler, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("reconciler: Store is required")
	case cfg.Queue == nil:
		return nil, errors.New("reconciler: Queue is required")
	case cfg.Inspector == nil:
		return nil, errors.New("reconciler: Inspector is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultReconcileInterval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultReconcileBatchSize
	}
	cfg.Logger = cfg.Logger.With().Str("component", "reconciler").Logger()
	return &Reconciler{cfg: cfg, queue: taskQueue{client: cfg.Queue, inspector: cfg.Inspector, opts: cfg.QueueOptions, runs: cfg.Store}}, nil
}

// ReconcileResult counts what one pass did.
type ReconcileResult struct {
	StaleSends int // in_flight sends past their lease, settled
	Unqueued   int // runs never recorded as enqueued, enqueued now (or found queued already)
	Lost       int // open runs whose task had vanished, re-enqueued
	Revived    int // open runs whose task had finished, re-enqueued
	Expired    int // unqueued or lost runs past deliver_within, expired instead
	Archived   int // open runs whose task asynq had archived, re-enqueued
	Checked    int // open runs checked against the queue
}

// Tick does one pass. Errors of single runs are logged and counted on the
// next pass; a store or queue error that stops the pass is returned.
func (r *Reconciler) Tick(ctx context.Context) (ReconcileResult, error) {
	now := r.cfg.Clock.Now()
	var res ReconcileResult
	if err := r.staleSends(ctx, now, &res); err != nil {
		return res, err
	}
	if err := r.unqueued(ctx, now, &res); err != nil {
		return res, err
	}
	if err := r.openRuns(ctx, now, &res); err != nil {
		return res, err
	}
	if res != (ReconcileResult{Checked: res.Checked}) {
		r.cfg.Logger.Info().Interface("result", res).Msg("reconciled")
	}
	return res, nil
}

// staleSends settles sends stuck in flight and re-enqueues their runs so a
// worker settles the runs.
func (r *Reconciler) staleSends(ctx context.Context, now time.Time, res *ReconcileResult) error {
	stale, err := r.cfg.Store.ResolveStaleSends(ctx, now)
	if err != nil {
		return fmt.Errorf("reconciler: %w", err)
	}
	res.StaleSends = len(stale)
	seen := map[int64]bool{}
	for _, sd := range stale {
		if r.cfg.OnStaleSend != nil {
			r.cfg.OnStaleSend(sd)
		}
		r.cfg.Logger.Warn().Int64("campaign", sd.CampaignID).Int64("run", sd.RunID).Int64("send", sd.ID).
			Str("status", string(sd.Status)).Msg("send in flight past its lease settled")
		if seen[sd.RunID] {
			continue
		}
		seen[sd.RunID] = true
		if _, err := r.queue.enqueue(ctx, queue.RunSendPayload{RunID: sd.RunID}, time.Time{}, false); err != nil {
			r.cfg.Logger.Error().Err(err).Int64("run", sd.RunID).Msg("re-enqueue run of a stale send")
			continue
		}
		if err := r.cfg.Store.MarkRunEnqueued(ctx, sd.RunID, r.cfg.Clock.Now()); err != nil {
			r.cfg.Logger.Error().Err(err).Int64("run", sd.RunID).Msg("record the re-enqueue of a stale send's run")
		}
	}
	return nil
}

// unqueued enqueues pending runs that never reached the queue, once due:
// every one in the pass (a queue outage at a peak leaves thousands; one page
// a pass would keep the last ones waiting for minutes). Runs a scheduler
// holds until their instant are not due yet. A page with an enqueue error
// ends the pass: the queue is likely down, and the next pass tries again.
func (r *Reconciler) unqueued(ctx context.Context, now time.Time, res *ReconcileResult) error {
	var after int64
	for {
		runs, err := r.cfg.Store.RunsToEnqueue(ctx, now, after, r.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("reconciler: %w", err)
		}
		failed := false
		for _, run := range runs {
			after = run.ID
			switch got, err := r.requeue(ctx, run, now); {
			case err != nil:
				failed = true
				r.cfg.Logger.Error().Err(err).Int64("campaign", run.CampaignID).Int64("run", run.ID).Msg("enqueue unqueued run")
			case got == expiredRun:
				res.Expired++
			case got == notExpired:
			default:
				res.Unqueued++
			}
		}
		if failed || len(runs) < r.cfg.BatchSize {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// openRuns checks every open run against the queue, but pending runs never
// enqueued (unqueued's).
func (r *Reconciler) openRuns(ctx context.Context, now time.Time, res *ReconcileResult) error {
	var after int64
	for {
		runs, err := r.cfg.Store.OpenRuns(ctx, after, r.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("reconciler: %w", err)
		}
		for _, run := range runs {
			after = run.ID
			if run.EnqueuedAt == nil && run.Status == campaign.RunPending {
				continue // RunsToEnqueue's
			}
			// A running run is checked even with no enqueued_at (its
			// enqueue was not recorded: a stop mid-tick, a failed mark):
			// RunsToEnqueue lists pending runs only, and a running run whose
			// task is lost would stay running for ever.
			res.Checked++
			if err := r.checkRun(ctx, run, now, res); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.cfg.Logger.Error().Err(err).Int64("campaign", run.CampaignID).Int64("run", run.ID).Msg("check run task")
			}
		}
		if len(runs) < r.cfg.BatchSize {
			return nil
		}
	}
}

func (r *Reconciler) checkRun(ctx context.Context, run campaign.Run, now time.Time, res *ReconcileResult) error {
	info, err := r.cfg.Inspector.GetTaskInfo(r.queue.queueName(), queue.TaskID(run.ID))
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		// ErrQueueNotFound is not proof: after a FLUSHALL a long-lived
		// asynq.Client enqueues without re-registering the queue in
		// asynq:queues, which the Inspector checks first. The enqueue's
		// TaskID conflict tells a live task from a lost one.
		got, err := r.requeue(ctx, run, now)
		switch {
		case err != nil:
			return err
		case got == expiredRun:
			res.Expired++
		case got == notExpired:
		case got != alreadyQueued:
			res.Lost++
			r.cfg.Logger.Warn().Int64("campaign", run.CampaignID).Int64("run", run.ID).Msg("open run had no task: re-enqueued")
		}
		return nil
	case err != nil:
		return fmt.Errorf("campaign %d run %d: inspect task: %w", run.CampaignID, run.ID, err)
	case info.State == asynq.TaskStateArchived:
		// asynq gave up on the task (its retries ran out: 25 failures, a
		// minute apart at most, worker.MaxFailureDelay)
		// while the run is still open: nobody else would ever process it.
		// A fresh task with a fresh retry budget keeps it from being lost;
		// the cause is in last_err (a run that cannot succeed keeps failing,
		// at asynq's back-off, visibly).
		got, err := r.queue.enqueue(ctx, taskOf(run), time.Time{}, true)
		if err != nil {
			return err
		}
		if got != alreadyQueued {
			res.Archived++
			r.cfg.Logger.Warn().Int64("campaign", run.CampaignID).Int64("run", run.ID).Str("last_err", info.LastErr).
				Msg("open run's task was archived (retries exhausted): re-enqueued with a fresh retry budget")
		}
		return nil
	case staleTask(info, taskOf(run)):
		// A task waiting under this run's id for another run's instant
		// (SQLite gave a deleted run's id to this one, and that run's task
		// was handed over at a stop): this run would go out at that
		// instant. The enqueue replaces it.
		got, err := r.queue.enqueue(ctx, taskOf(run), wallInstant(r.cfg.Clock, run.ScheduledFor, DefaultReleaseLead), false)
		if err != nil {
			return err
		}
		if got != alreadyQueued {
			res.Lost++
			r.cfg.Logger.Warn().Int64("campaign", run.CampaignID).Int64("run", run.ID).Msg("another run's task waited under this run's id: replaced")
		}
		return nil
	case info.State != asynq.TaskStateCompleted:
		return nil // pending, scheduled, active, retry: live
	}
	// A completed task for an open run: the run was re-opened after its task
	// finished, or the task finished just now. Look again before reviving.
	cur, _, err := r.cfg.Store.GetRun(ctx, run.ID)
	if err != nil {
		return err
	}
	if cur.Status != campaign.RunPending && cur.Status != campaign.RunRunning {
		return nil
	}
	got, err := r.queue.enqueue(ctx, taskOf(run), time.Time{}, false)
	if err != nil {
		return err
	}
	if got != alreadyQueued {
		res.Revived++
		r.cfg.Logger.Warn().Int64("campaign", run.CampaignID).Int64("run", run.ID).Msg("open run's task had completed: re-enqueued")
	}
	return nil
}

// requeue's answers other than an enqueue's.
const (
	expiredRun enqueueResult = -1 // past its deliver_by: expired instead
	// The store refused to expire it: settled, or re-opened by an operator
	// retry with a fresh deliver_by, since it was read. The next pass reads
	// it again.
	notExpired enqueueResult = -2
)

// requeue enqueues a run that may have no task, or expires it when its
// deliver_within has passed and it never started.
func (r *Reconciler) requeue(ctx context.Context, run campaign.Run, now time.Time) (enqueueResult, error) {
	if run.Status == campaign.RunPending && run.DeliverBy != nil && !now.Before(*run.DeliverBy) {
		expired, err := r.cfg.Store.ExpireRun(ctx, run.ID, now)
		if err != nil {
			if errors.Is(err, campaign.ErrIllegalTransition) {
				r.cfg.Logger.Info().Err(err).Int64("campaign", run.CampaignID).Int64("run", run.ID).Msg("run not expired")
				return notExpired, nil
			}
			return 0, err
		}
		if r.cfg.OnExpiredRun != nil {
			r.cfg.OnExpiredRun(expired)
		}
		r.cfg.Logger.Warn().Int64("campaign", run.CampaignID).Int64("run", run.ID).Msg("run expired: it could not start within deliver_within")
		return expiredRun, nil
	}
	// A run not yet due (handed to Redis at a stop, and Redis lost it) is
	// handed over at its instant, as the scheduler would, not at once.
	got, err := r.queue.enqueue(ctx, taskOf(run), wallInstant(r.cfg.Clock, run.ScheduledFor, DefaultReleaseLead), false)
	if err != nil {
		return 0, err
	}
	if err := r.cfg.Store.MarkRunEnqueued(ctx, run.ID, r.cfg.Clock.Now()); err != nil {
		return 0, err
	}
	return got, nil
}

// Run reconciles every Interval until ctx is done.
func (r *Reconciler) Run(ctx context.Context) error {
	r.cfg.Logger.Info().Dur("interval", r.cfg.Interval).Msg("reconciler started")
	for {
		if _, err := r.Tick(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Error().Err(err).Msg("reconcile")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.cfg.Clock.After(r.cfg.Interval):
		}
	}
}
