package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/queue"
)

// Defaults of Config.
const (
	DefaultInterval  = time.Second
	DefaultBatchSize = 100
	// maxClaimRounds bounds the ClaimDue calls of one tick (a full batch, or
	// a campaign whose next fire is also within the horizon, asks for more).
	maxClaimRounds = 10
	// flushTimeout bounds enqueueing held runs when Run stops.
	flushTimeout = 10 * time.Second
	// DefaultReleaseLead is how long before its instant a held run is handed
	// to the queue (see Config.ReleaseLead).
	DefaultReleaseLead = 500 * time.Millisecond
	// DefaultEnqueueConcurrency is how many run tasks are handed to Redis
	// at once when many runs are due together.
	DefaultEnqueueConcurrency = 16
)

// Config configures a Scheduler. Store and Queue are required.
type Config struct {
	Store campaign.Store
	// Queue is the asynq client the run tasks are enqueued with.
	Queue        queue.Enqueuer
	QueueOptions queue.Options
	// Inspector (optional) lets an enqueue that meets a finished task with
	// the run's id replace it. Run ids are task ids, and SQLite gives the
	// id of a deleted run (a pause takes back a run claimed ahead) to the
	// next one: without it, that run waits for the reconciler's next pass.
	Inspector Inspector
	Clock     Clock // default SystemClock
	Logger    zerolog.Logger
	// Interval between claims (default 1 s).
	Interval time.Duration
	// Lookahead: campaigns due within it are claimed ahead, their runs held
	// and enqueued ReleaseLead before their instant (default 2 × Interval;
	// negative: claim only what is due).
	Lookahead time.Duration
	// BatchSize is how many campaigns one ClaimDue takes (default 100).
	BatchSize int
	// MissedAfter: a fire claimed later than this was missed (default 1 min,
	// and never less than 2 × Interval: a running scheduler claims a fire
	// up to one Interval late, and such a fire is on time, not missed).
	MissedAfter time.Duration
	// EnqueueConcurrency: run tasks handed to Redis at once (default 16).
	EnqueueConcurrency int
	// ReleaseLead: a run claimed ahead is handed to the queue this long
	// before its instant (default 500 ms; negative: at the instant). An idle
	// asynq server polls Redis only every 0.5–1.5 × its TaskCheckInterval
	// (200 ms for the worker), so a task enqueued at the instant could wait
	// up to 300 ms; enqueued ahead, it is already in a worker, which waits
	// inline for the instant. Nothing is sent early: the worker never
	// begins a send before the run's scheduled instant by its own clock, so
	// worker hosts' clocks must be synchronised to well under the lead. Keep
	// it well under the worker's inline_wait.
	ReleaseLead time.Duration
	// OnExpiredRun, if set, is called with every run a tick expires
	// (created after its deliver_within), e.g. to count them.
	OnExpiredRun func(campaign.Run)
}

// Scheduler claims due campaigns and enqueues their runs. Tick does one
// pass; Run loops. It is safe to run any number of replicas.
type Scheduler struct {
	cfg   Config
	queue taskQueue

	mu   sync.Mutex // guards held
	held runHeap    // runs claimed ahead, earliest first
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Store == nil {
		return nil, errors.New("scheduler: Store is required")
	}
	if cfg.Queue == nil {
		return nil, errors.New("scheduler: Queue is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	switch {
	case cfg.Lookahead == 0:
		cfg.Lookahead = 2 * cfg.Interval
	case cfg.Lookahead < 0:
		cfg.Lookahead = 0
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.MissedAfter <= 0 {
		cfg.MissedAfter = DefaultMissedAfter
	}
	cfg.MissedAfter = max(cfg.MissedAfter, 2*cfg.Interval)
	if cfg.EnqueueConcurrency <= 0 {
		cfg.EnqueueConcurrency = DefaultEnqueueConcurrency
	}
	switch {
	case cfg.ReleaseLead == 0:
		cfg.ReleaseLead = DefaultReleaseLead
	case cfg.ReleaseLead < 0:
		cfg.ReleaseLead = 0
	}
	cfg.Logger = cfg.Logger.With().Str("component", "scheduler").Logger()
	return &Scheduler{cfg: cfg, queue: taskQueue{client: cfg.Queue, inspector: cfg.Inspector, opts: cfg.QueueOptions, runs: cfg.Store}}, nil
}

// markTimeout bounds recording runs enqueued once their tasks are in Redis.
const markTimeout = 10 * time.Second

// TickResult counts what one Tick did.
type TickResult struct {
	Claimed  int // campaigns claimed (fired or skipped)
	Fired    int // runs created
	Skipped  int // missed fires dropped by `missed: skip`
	Enqueued int // run tasks handed to the queue (new or already there)
	Held     int // runs claimed ahead, waiting in memory for their instant
	Expired  int // runs created past their deliver_within
	Failed   int // runs created failed (a template did not render)
	// More: the tick stopped at its claim-round limit with campaigns still
	// due; Run ticks again at once.
	More bool
}

func (r *TickResult) add(o TickResult) {
	r.Claimed += o.Claimed
	r.Fired += o.Fired
	r.Skipped += o.Skipped
	r.Enqueued += o.Enqueued
	r.Held += o.Held
	r.Expired += o.Expired
	r.Failed += o.Failed
}

// Tick enqueues held runs whose instant has come, then claims what is due
// within the lookahead. Errors of single runs are logged and do not stop the
// tick (the reconciler enqueues what was left); a claim error is returned.
func (s *Scheduler) Tick(ctx context.Context) (TickResult, error) {
	now := s.cfg.Clock.Now()
	var res TickResult
	res.add(s.releaseHeld(ctx, now))
	horizon := now.Add(s.cfg.Lookahead)
	for round := range maxClaimRounds {
		var decisions []Decision
		plan := Plan(now, s.cfg.MissedAfter, func(d Decision) { decisions = append(decisions, d) })
		runs, err := s.cfg.Store.ClaimDue(ctx, horizon, now, s.cfg.BatchSize, plan)
		rejected, onlyPlans := planErrors(err)
		if err != nil && !onlyPlans {
			return res, fmt.Errorf("scheduler: claim due: %w", err)
		}
		if err != nil {
			s.cfg.Logger.Error().Err(err).Msg("campaigns left unclaimed: their schedule could not be planned")
		}
		// A full batch may leave more due; so may a claimed campaign whose
		// next fire is also within the horizon. Campaigns left unclaimed
		// (a plan error) do not count: they would only be refused again.
		examined := map[int64]bool{}
		for _, d := range decisions {
			examined[d.CampaignID] = true
		}
		for id := range rejected {
			examined[id] = true
		}
		// The store looks past refused campaigns, so only claims fill a batch.
		again := len(examined)-len(rejected) >= s.cfg.BatchSize
		for _, d := range decisions {
			if rejected[d.CampaignID] {
				continue // the store refused this decision: nothing changed
			}
			res.Claimed++
			if d.Superseded {
				res.Skipped++
				s.cfg.Logger.Warn().Int64("campaign", d.CampaignID).Time("scheduled_for", d.ScheduledFor).
					Str("missed", string(d.Policy)).Time("next", *d.Next).
					Msg("missed fire not delivered: the campaign's next fire, due within missed_after, stands for it")
			} else if !d.Fire {
				res.Skipped++
				s.cfg.Logger.Warn().Int64("campaign", d.CampaignID).Time("scheduled_for", d.ScheduledFor).
					Str("missed", string(d.Policy)).Msg("missed fire skipped")
			} else if d.Missed {
				s.cfg.Logger.Warn().Int64("campaign", d.CampaignID).Time("scheduled_for", d.ScheduledFor).
					Str("missed", string(d.Policy)).Msg("missed fire delivered once")
			}
			if d.Next != nil && !d.Next.After(horizon) {
				again = true
			}
		}
		var ready []campaign.Run
		for _, r := range runs {
			res.Fired++
			o, enqueue := s.dispatch(ctx, r, now)
			res.add(o)
			if enqueue {
				ready = append(ready, r)
			}
		}
		res.Enqueued += s.enqueueAll(ctx, ready)
		if !again {
			break
		}
		if round == maxClaimRounds-1 {
			res.More = true
		}
	}
	return res, nil
}

// planErrors returns the campaigns a ClaimDue error reports as left
// unclaimed (plan errors), and whether it reports nothing else (the claim of
// the other campaigns committed).
func planErrors(err error) (map[int64]bool, bool) {
	if err == nil {
		return nil, true
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	rejected := map[int64]bool{}
	for _, e := range errs {
		var pe *campaign.PlanError
		if !errors.As(e, &pe) {
			return rejected, false
		}
		rejected[pe.CampaignID] = true
	}
	return rejected, len(errs) > 0
}

// dispatch takes a freshly created run: expire it, hold it, or report that
// it is to be enqueued now.
func (s *Scheduler) dispatch(ctx context.Context, r campaign.Run, now time.Time) (res TickResult, enqueue bool) {
	log := s.cfg.Logger.With().Int64("campaign", r.CampaignID).Int64("run", r.ID).Time("scheduled_for", r.ScheduledFor).Logger()
	switch {
	case r.Status != campaign.RunPending:
		log.Error().Str("status", string(r.Status)).Str("error", r.Error).Msg("run created unsendable")
		return TickResult{Failed: 1}, false
	case r.DeliverBy != nil && !now.Before(*r.DeliverBy):
		expired, err := s.cfg.Store.ExpireRun(ctx, r.ID, now)
		if err != nil {
			if errors.Is(err, campaign.ErrIllegalTransition) {
				// Settled or re-opened (an operator retry) since it was
				// created; the reconciler enqueues a re-opened run.
				log.Info().Err(err).Msg("run not expired")
				return TickResult{}, false
			}
			log.Error().Err(err).Msg("expire run")
			return TickResult{}, false
		}
		if s.cfg.OnExpiredRun != nil {
			s.cfg.OnExpiredRun(expired)
		}
		log.Warn().Time("deliver_by", *r.DeliverBy).Msg("run expired: created after its deliver_within")
		return TickResult{Expired: 1}, false
	case r.ScheduledFor.After(now.Add(s.cfg.ReleaseLead)):
		s.mu.Lock()
		heap.Push(&s.held, r)
		s.mu.Unlock()
		return TickResult{Held: 1}, false
	}
	return TickResult{}, true
}

// enqueueAll hands runs due now to the queue, EnqueueConcurrency at a
// time, then records them as enqueued in one store call. It returns how
// many are in the queue; a run that failed is logged and left to the
// reconciler (its enqueued_at stays empty).
func (s *Scheduler) enqueueAll(ctx context.Context, runs []campaign.Run) int {
	if len(runs) == 0 {
		return 0
	}
	// Detached from a stop: these runs are claimed (or released from the
	// held ones) and nothing else will enqueue them before the reconciler
	// runs again, which may be the next start. Bounded like the flush.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	ok := make([]bool, len(runs))
	already := make([]bool, len(runs))
	sem := make(chan struct{}, s.cfg.EnqueueConcurrency)
	var wg sync.WaitGroup
	for i, r := range runs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, err := s.queue.enqueue(ctx, taskOf(r), time.Time{}, false)
			if err != nil {
				s.cfg.Logger.Error().Err(err).Int64("campaign", r.CampaignID).Int64("run", r.ID).
					Msg("enqueue run; the reconciler will retry")
				return
			}
			ok[i], already[i] = true, res == alreadyQueued
		}()
	}
	wg.Wait()
	at := s.cfg.Clock.Now()
	ids := make([]int64, 0, len(runs))
	for i, r := range runs {
		if ok[i] {
			ids = append(ids, r.ID)
		}
	}
	// Recorded even when the scheduler is being stopped: the tasks are in
	// Redis already.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if err := s.cfg.Store.MarkRunsEnqueued(mctx, ids, at); err != nil {
		// The tasks are in the queue; the reconciler checks the runs
		// against it (a started one too) and records them. Nothing is sent
		// twice: the task id is the run's.
		s.cfg.Logger.Error().Err(err).Int("runs", len(ids)).Msg("record runs enqueued; the reconciler will retry")
	}
	for i, r := range runs {
		if ok[i] { // a disabled Debug() is a nil event: no cost beyond the call
			s.cfg.Logger.Debug().Int64("campaign", r.CampaignID).Int64("run", r.ID).Time("scheduled_for", r.ScheduledFor).
				Dur("lag", at.Sub(r.ScheduledFor)).Bool("already_queued", already[i]).Msg("run enqueued")
		}
	}
	return len(ids)
}

// enqueue hands a run to the queue and records it in the store.
func (s *Scheduler) enqueue(ctx context.Context, r campaign.Run, processAt time.Time) error {
	res, err := s.queue.enqueue(ctx, taskOf(r), processAt, false)
	if err != nil {
		return fmt.Errorf("campaign %d run %d: %w", r.CampaignID, r.ID, err)
	}
	at := s.cfg.Clock.Now()
	if err := s.cfg.Store.MarkRunEnqueued(ctx, r.ID, at); err != nil {
		return fmt.Errorf("campaign %d run %d: %w", r.CampaignID, r.ID, err)
	}
	s.cfg.Logger.Debug().Int64("campaign", r.CampaignID).Int64("run", r.ID).Time("scheduled_for", r.ScheduledFor).
		Dur("lag", at.Sub(r.ScheduledFor)).Bool("already_queued", res == alreadyQueued).Msg("run enqueued")
	return nil
}

// releaseHeld enqueues the held runs whose instant is at most ReleaseLead
// away.
func (s *Scheduler) releaseHeld(ctx context.Context, now time.Time) TickResult {
	var due []campaign.Run
	until := now.Add(s.cfg.ReleaseLead)
	s.mu.Lock()
	for len(s.held) > 0 && !s.held[0].ScheduledFor.After(until) {
		due = append(due, heap.Pop(&s.held).(campaign.Run))
	}
	s.mu.Unlock()
	return TickResult{Enqueued: s.enqueueAll(ctx, due)}
}

// nextWait is how long Run sleeps: the interval, or less when a held run's
// release (its instant less ReleaseLead) comes sooner.
func (s *Scheduler) nextWait(now time.Time) time.Duration {
	wait := s.cfg.Interval
	s.mu.Lock()
	if len(s.held) > 0 {
		wait = min(wait, max(s.held[0].ScheduledFor.Add(-s.cfg.ReleaseLead).Sub(now), 0))
	}
	s.mu.Unlock()
	return wait
}

// Held returns the number of runs claimed ahead and not yet enqueued.
func (s *Scheduler) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

// Run ticks until ctx is done, then enqueues the runs it still holds with
// ProcessAt rounded up to their next whole second, so none is lost or early.
func (s *Scheduler) Run(ctx context.Context) error {
	s.cfg.Logger.Info().Dur("interval", s.cfg.Interval).Dur("lookahead", s.cfg.Lookahead).Msg("scheduler started")
	defer s.flushHeld()
	for {
		res, err := s.Tick(ctx)
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error().Err(err).Msg("tick")
		}
		wait := s.nextWait(s.cfg.Clock.Now())
		if res.More && err == nil {
			wait = 0 // a backlog of due campaigns: claim the rest at once
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.Clock.After(wait):
		}
	}
}

// flushHeld enqueues every held run for its own instant.
func (s *Scheduler) flushHeld() {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.mu.Unlock()
	enqueued := 0
	for _, r := range held {
		err := s.enqueue(ctx, r, wallInstant(s.cfg.Clock, r.ScheduledFor, s.cfg.ReleaseLead))
		switch {
		case errors.Is(err, campaign.ErrNotFound):
			// A pause deleted the run while it was held: nothing to send,
			// and the worker drops the task (as releaseHeld's batch mark
			// skips such runs).
			s.cfg.Logger.Info().Int64("run", r.ID).Msg("held run deleted by a pause before the shutdown: not enqueued")
		case err != nil:
			s.cfg.Logger.Error().Err(err).Int64("run", r.ID).Msg("enqueue held run at shutdown; the reconciler will retry")
		default:
			enqueued++
		}
	}
	s.cfg.Logger.Info().Int("held", len(held)).Int("held_enqueued", enqueued).Msg("scheduler stopped")
}

// runHeap orders runs by scheduled instant (container/heap).
type runHeap []campaign.Run

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].ScheduledFor.Before(h[j].ScheduledFor) }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(campaign.Run)) }
func (h *runHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}
