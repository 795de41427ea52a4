package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/quota"
)

// Store is the part of campaign.Store the worker uses.
type Store interface {
	GetRun(ctx context.Context, runID int64) (campaign.Run, []campaign.Send, error)
	FinishRun(ctx context.Context, runID int64, now time.Time) (campaign.Run, error)
	ExpireRun(ctx context.Context, runID int64, now time.Time) (campaign.Run, error)
	ClaimSend(ctx context.Context, sendID int64, now time.Time, lease time.Duration) (campaign.Send, error)
	ClaimFirstSend(ctx context.Context, runID int64, app string, now time.Time, lease time.Duration) (campaign.Send, *time.Time, bool, error)
	RecordOutcome(ctx context.Context, tok campaign.ClaimToken, o campaign.Outcome) (campaign.Send, error)
	RecordOutcomeAndFinish(ctx context.Context, tok campaign.ClaimToken, o campaign.Outcome) (campaign.Send, bool, error)
	ResolveStaleSends(ctx context.Context, now time.Time) ([]campaign.Send, error)
	// Claimant names this process in the sends it claims.
	Claimant() string
}

// Guard is the part of *quota.Guard the worker uses.
type Guard interface {
	// ReserveFor takes a slot for a run waiting its turn in the app's line
	// (quota.Waiter); the zero Waiter is a caller outside the line.
	ReserveFor(ctx context.Context, app string, w quota.Waiter) (quota.Reservation, error)
	// Queue keeps a waiting run's place while it waits inline; Unqueue
	// gives it up once the run no longer waits.
	Queue(ctx context.Context, app string, w quota.Waiter, d time.Duration) error
	Unqueue(ctx context.Context, app, id string) error
	Release(ctx context.Context, res quota.Reservation) error
	Held(ctx context.Context, res quota.Reservation) (bool, error)
	BlockRateLimited(ctx context.Context, app string, retryAfter time.Duration) (time.Time, error)
	HoldFor(ctx context.Context, app string, d time.Duration) (time.Time, error)
	Status(ctx context.Context, app string) (quota.Status, error)
}

// Pusher calls /push.json for one app; *pushapi.Client is one. The API
// latency metric is fed by the attempts a Pusher reports to the observer
// of pushapi.WithAttemptObserver in ctx, as *pushapi.Client does.
type Pusher interface {
	Push(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error)
}

// Config tunes the handler. Zero fields take the defaults.
type Config struct {
	// Lease is how long a claimed send is reserved to this worker, from
	// its quota slot's instant. It must outlast the way to the call (up to
	// the slot's UseBy), a whole push call (the client's timeout) and the
	// recording of the outcome (StoreTimeout); a send whose lease lapses
	// becomes unknown. Default 2 minutes.
	Lease time.Duration
	// Backoff is the retry policy of the retry class.
	Backoff Backoff
	// InlineWait is the longest real time a handler blocks waiting (the
	// scheduled instant, a quota window, a next attempt) before handing
	// the task back to the queue as a Snooze. Default 10 s.
	InlineWait time.Duration
	// SnoozeLead: a snoozed run asks to be delivered this much before the
	// instant it waits for and waits the rest inline, since asynq's
	// forwarder delivers up to a second early and up to its check interval
	// late. Default 2 s (with the server's 1 s check interval).
	SnoozeLead time.Duration
	// MaxSnooze caps one snooze (the run then looks again). Default 15 min.
	MaxSnooze time.Duration
	// AttemptBudget is the task time that must be left to start a send
	// (a push call and its bookkeeping); with less, the run snoozes and
	// asynq delivers it again with a fresh timeout. Default 20 s.
	AttemptBudget time.Duration
	// StoreTimeout bounds recording an outcome after the push call, on a
	// context detached from the task's (a cancelled task must still record
	// what the service answered). Default 15 s.
	StoreTimeout time.Duration
}

func (c Config) withDefaults() Config {
	c.Backoff = c.Backoff.withDefaults()
	if c.Lease <= 0 {
		c.Lease = 2 * time.Minute
	}
	if c.InlineWait <= 0 {
		c.InlineWait = 10 * time.Second
	}
	if c.SnoozeLead <= 0 {
		c.SnoozeLead = 2 * time.Second
	}
	if c.MaxSnooze <= 0 {
		c.MaxSnooze = 15 * time.Minute
	}
	if c.AttemptBudget <= 0 {
		c.AttemptBudget = 20 * time.Second
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = 15 * time.Second
	}
	return c
}

// Deps are what a Handler works with.
type Deps struct {
	Store Store
	Guard Guard
	// Pushers holds the client of every configured app, by app name.
	Pushers map[string]Pusher
	Clock   Clock // nil: RealClock
	Logger  zerolog.Logger
	// Metrics (nil: none) records the handler's work; its quota gauges read
	// Guard for the apps of Pushers at scrape time (those of the latest
	// Handler made with them).
	Metrics *Metrics
	// Jitter returns a uniform value in [0, 1) for backoff; nil: math/rand/v2.
	Jitter func() float64
}

// Handler processes queue.TypeRunSend tasks. It is safe for concurrent use.
type Handler struct {
	store   Store
	guard   Guard
	pushers map[string]Pusher
	clock   Clock
	log     zerolog.Logger
	metrics *Metrics
	jitter  func() float64
	cfg     Config

	drainCtx context.Context // cancelled by Drain
	drain    context.CancelFunc

	inHand runsInHand
}

// runsInHand counts, per run, this Handler's attempts under way, from
// before the claim to the end of the attempt, and keeps the claims whose
// call was made and whose outcome could not be recorded. The search for a
// claim whose answer was lost (giveBackLostClaim) tells its own claim by the
// process's name and the claim's instant, which another task of the same
// run in this process (a task delivered again while the first still runs)
// can share to the microsecond: while another attempt of the run is under
// way here, a claim found is not known to be this attempt's, and is left to
// its lease; a claim called and not recorded is never given back (the push
// may have gone out), even once its attempt is over.
type runsInHand struct {
	mu sync.Mutex
	m  map[int64]int
	// called: claims whose push was called and whose outcome was not
	// recorded (they become unknown when their lease lapses). Few: one
	// per outcome the store refused to take, for the process's life.
	called map[campaign.ClaimToken]bool
}

// calledUnrecorded keeps tok as a claim whose call was made and whose
// outcome was not recorded.
func (r *runsInHand) calledUnrecorded(tok campaign.ClaimToken) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.called == nil {
		r.called = map[campaign.ClaimToken]bool{}
	}
	r.called[tok] = true
}

// wasCalled reports whether tok's push was called by this Handler.
func (r *runsInHand) wasCalled(tok campaign.ClaimToken) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.called[tok]
}

func (r *runsInHand) begin(runID int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[int64]int{}
	}
	r.m[runID]++
}

func (r *runsInHand) end(runID int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[runID]--; r.m[runID] <= 0 {
		delete(r.m, runID)
	}
}

// others reports whether attempts of runID other than the caller's are
// under way.
func (r *runsInHand) others(runID int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[runID] > 1
}

// NewHandler checks deps and returns a Handler.
func NewHandler(deps Deps, cfg Config) (*Handler, error) {
	if deps.Store == nil {
		return nil, errors.New("worker: Deps.Store is required")
	}
	if deps.Guard == nil {
		return nil, errors.New("worker: Deps.Guard is required")
	}
	if err := cfg.Backoff.Validate("worker.backoff"); err != nil {
		return nil, err
	}
	h := &Handler{
		store: deps.Store, guard: deps.Guard, pushers: deps.Pushers, clock: deps.Clock,
		log: deps.Logger, metrics: deps.Metrics, jitter: deps.Jitter, cfg: cfg.withDefaults(),
	}
	h.drainCtx, h.drain = context.WithCancel(context.Background())
	if h.metrics != nil {
		apps := slices.Sorted(maps.Keys(h.pushers))
		h.metrics.quota.watch(h.guard, apps)
	}
	if h.clock == nil {
		h.clock = RealClock{}
	}
	if h.jitter == nil {
		h.jitter = rand.Float64
	}
	return h, nil
}

// Drain makes every run waiting inline snooze at once, and no new send
// start (the server calls it first thing at shutdown). Sends in flight
// finish.
func (h *Handler) Drain() { h.drain() }

func (h *Handler) isDraining() bool { return h.drainCtx.Err() != nil }

// ProcessTask implements asynq.Handler for queue.TypeRunSend.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := queue.ParseRunSend(t)
	if err != nil {
		h.log.Error().Err(err).Msg("bad run task: dropped")
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	// A task delivered more than InlineWait after its run's instant has
	// most likely been snoozed (its run waited for the quota or a retry):
	// the run is read first, rather than a slot reserved for a first claim
	// the store would refuse.
	if p.Hinted() && !h.clock.Now().After(p.ScheduledFor.Add(h.cfg.InlineWait)) {
		if done, err := h.firstSend(ctx, p); done || err != nil {
			return err
		}
	}
	return h.ProcessRun(ctx, p.RunID)
}

// firstSend makes a run's first attempt from the task's hints alone: it
// waits for the run's instant, reserves the app's slot and claims the run's
// first send, which the store grants only while the run is pending, due and
// not expired. A one-send run is then sent and settled in two statements,
// without reading the run first. It reports done when the task is over
// (settled, or an error or Snooze to return); otherwise ProcessRun carries
// on from the store, as it does for any task the claim refused.
//
// A refused claim (the run cancelled just before its instant, a duplicate
// delivery) held its slot for one statement. Another run of the app that
// finds the window full in that moment waits for the next opening, at most
// MaxSnooze, as after a lost race for a send.
func (h *Handler) firstSend(ctx context.Context, p queue.RunSendPayload) (bool, error) {
	if _, ok := h.pushers[p.App]; !ok {
		return false, nil // ProcessRun reports it
	}
	if h.clock.Now().Before(p.ScheduledFor) {
		if err := h.waitUntil(ctx, p.RunID, p.ScheduledFor, "scheduled"); err != nil {
			return true, err
		}
	}
	if h.isDraining() {
		return true, h.snooze(p.RunID, h.clock.Now(), 0, "shutdown")
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < h.cfg.AttemptBudget {
		return true, h.snooze(p.RunID, h.clock.Now(), 0, "task timeout")
	}
	run := campaign.Run{ID: p.RunID, App: p.App, ScheduledFor: p.ScheduledFor}
	log := h.log.With().Int64("run", p.RunID).Str("app", p.App).Logger()
	// One slot: the hints do not tell the run's sends. A run with more
	// goes on from the store after its first, and asks for the rest there.
	_, recorded, finished, err := h.attempt(ctx, run, 0, 1, log)
	switch {
	case err != nil:
		return true, err
	case finished:
		log.Info().Int64("campaign", recorded.CampaignID).Str("status", string(campaign.RunDone)).Msg("run finished")
		return true, nil
	}
	// Anything else, a full window included, goes on from the store:
	// ProcessRun knows the run's deliver_by, which the hints do not, and
	// waits for the opening no later than it.
	return false, nil
}

// terminalRun reports whether a run needs nothing more from a worker.
func terminalRun(s campaign.RunStatus) bool {
	switch s {
	case campaign.RunPending, campaign.RunRunning:
		return false
	}
	return true
}

// settledSend reports whether a send's status is final.
func settledSend(s campaign.SendStatus) bool {
	switch s {
	case campaign.SendPending, campaign.SendInFlight, campaign.SendRetryWait:
		return false
	}
	return true
}

// next is what a run's sends call for at an instant.
type next struct {
	send  *campaign.Send // the first send that can be attempted now
	wake  time.Time      // else: the earliest instant one can (zero: none)
	stale bool           // a send's lease lapsed: resolve it first
	open  bool           // some send is pending or waiting to retry
}

// pickSend finds, in index order, the first send that can be attempted at
// now: pending, or waiting to retry and due. Sends held by a live claim or
// waiting to retry set the wake-up instant; a claim whose lease ended
// before now is stale (its worker died).
func pickSend(sends []campaign.Send, now time.Time) next {
	var n next
	earlier := func(t time.Time) {
		if n.wake.IsZero() || t.Before(n.wake) {
			n.wake = t
		}
	}
	for i := range sends {
		s := &sends[i]
		switch s.Status {
		case campaign.SendPending:
			n.open = true
			if n.send == nil {
				n.send = s
			}
		case campaign.SendRetryWait:
			n.open = true
			if s.NextAttemptAt == nil || !s.NextAttemptAt.After(now) {
				if n.send == nil {
					n.send = s
				}
			} else {
				earlier(*s.NextAttemptAt)
			}
		case campaign.SendInFlight:
			switch {
			case s.LeaseUntil == nil || s.LeaseUntil.Before(now):
				n.stale = true
			default:
				earlier(s.LeaseUntil.Add(time.Millisecond))
			}
		}
	}
	return n
}

// ProcessRun sends run runID's sends. It returns nil once the run is
// settled (or gone), a *Snooze when it must wait, and any other error for
// asynq to retry.
func (h *Handler) ProcessRun(ctx context.Context, runID int64) (err error) {
	log := h.log.With().Int64("run", runID).Logger()
	// The run and its sends as last read, or as this worker just settled
	// one of them (reuse). A reused snapshot only picks the next send to
	// claim (ClaimSend refuses a send that moved or whose run is no longer
	// open) or lets FinishRun decide from the store; anything else (a wait,
	// a stale lease) reads the store again first.
	var (
		run   campaign.Run
		sends []campaign.Send
		reuse bool
	)
	// A run the quota refused holds a place in its app's line (see
	// quota.Waiter). A run settled (returning nil) leaves it, whenever it
	// took it; one this task saw refused leaves it too unless it goes on
	// waiting for the quota. A place left behind would keep the room it is
	// due from the runs behind it until it lapsed.
	lined := false
	defer func() {
		if run.ID != 0 && (err == nil || (lined && !waitsForQuota(err))) {
			h.leaveLine(ctx, run)
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("run %d: %w", runID, err)
		}
		reused := reuse
		reuse = false
		if !reused {
			var err error
			run, sends, err = h.store.GetRun(ctx, runID)
			if errors.Is(err, campaign.ErrNotFound) {
				// Pausing a campaign deletes the runs claimed ahead of their
				// instant that no worker touched: done, not an error to
				// archive the task for.
				log.Info().Msg("run gone (its campaign was paused before the run's instant): task dropped")
				return nil
			}
			if err != nil {
				return fmt.Errorf("run %d: load: %w", runID, err)
			}
		}
		log := log.With().Int64("campaign", run.CampaignID).Str("app", run.App).Logger()
		if terminalRun(run.Status) {
			log.Debug().Str("status", string(run.Status)).Msg("run settled")
			return nil
		}
		now := h.clock.Now()
		if now.Before(run.ScheduledFor) {
			if err := h.waitUntil(ctx, runID, run.ScheduledFor, "scheduled"); err != nil {
				return err
			}
			continue
		}
		n := pickSend(sends, now)
		if reused && (n.stale || (n.send == nil && !n.wake.IsZero())) {
			continue // another worker's claim or a retry to wait for: look at the store first
		}
		if n.stale {
			resolved, err := h.store.ResolveStaleSends(ctx, now)
			if err != nil {
				return fmt.Errorf("campaign %d run %d: resolve stale sends: %w", run.CampaignID, runID, err)
			}
			for _, s := range resolved {
				h.metrics.StaleSend(s)
				log.Warn().Int64("send", s.ID).Str("status", string(s.Status)).Msg("claim of a dead worker resolved")
			}
			continue
		}
		if run.DeliverBy != nil && !now.Before(*run.DeliverBy) && n.open {
			r, err := h.store.ExpireRun(ctx, runID, now)
			switch {
			case errors.Is(err, campaign.ErrIllegalTransition):
				// Settled meanwhile, or re-opened by a retry with a fresh
				// deliver_by: read it again.
				log.Debug().Err(err).Msg("run not expired")
			case err != nil:
				return fmt.Errorf("campaign %d run %d: expire: %w", run.CampaignID, runID, err)
			default:
				h.metrics.RunExpired(r)
				log.Info().Str("status", string(r.Status)).Time("deliver_by", *run.DeliverBy).Msg("deliver_within passed: run expired")
			}
			continue // settled, or a send in flight elsewhere settles it
		}
		if n.send == nil && n.wake.IsZero() {
			r, err := h.store.FinishRun(ctx, runID, now)
			if err != nil {
				if errors.Is(err, campaign.ErrIllegalTransition) {
					continue // a send moved meanwhile: look again
				}
				return fmt.Errorf("campaign %d run %d: finish: %w", run.CampaignID, runID, err)
			}
			log.Info().Str("status", string(r.Status)).Msg("run finished")
			return nil
		}
		if n.send == nil {
			wake := n.wake
			if n.open {
				// Only a send that could still be claimed expires the run at
				// deliver_by; one in flight elsewhere settles it itself (and
				// waking for it at a past deliver_by would spin).
				wake = byDeliverBy(wake, run)
			}
			if err := h.waitUntil(ctx, runID, wake, "next attempt"); err != nil {
				return err
			}
			continue
		}
		if h.isDraining() {
			return h.snooze(runID, now, 0, "shutdown")
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < h.cfg.AttemptBudget {
			return h.snooze(runID, now, 0, "task timeout")
		}
		wait, recorded, finished, err := h.attempt(ctx, run, n.send.ID, dueNow(sends, now), log)
		if recorded == nil && !finished {
			lined = true
		}
		if err != nil {
			return err
		}
		if finished {
			log.Info().Str("status", string(campaign.RunDone)).Msg("run finished")
			return nil
		}
		if recorded != nil {
			run.Status = campaign.RunRunning // the claim started it
		}
		if recorded != nil && settledSend(recorded.Status) {
			// The send is settled in the store: carry on from this
			// snapshot (see above). After a retry_wait or a release the
			// loop reads the store again.
			for i := range sends {
				if sends[i].ID == recorded.ID {
					sends[i] = *recorded
					reuse = true
				}
			}
		}
		if !wait.IsZero() {
			reuse = false
			until := byDeliverBy(wait, run)
			h.keepPlace(ctx, waiter(run, dueNow(sends, now)), run.App, until)
			if err := h.waitUntil(ctx, runID, until, "quota"); err != nil {
				return err
			}
		}
	}
}

// LinePoll is how long a run the line keeps from its app's room waits
// before it asks again (see quota.Waiter): the runs ahead take the room
// within moments, or their places lapse within quota.LineHold.
const LinePoll = 250 * time.Millisecond

// waiter is run's place in its app's line, needing need slots: by its
// scheduled instant, ties by run id (zero-padded, so that ids order as
// numbers).
func waiter(run campaign.Run, need int) quota.Waiter {
	return quota.Waiter{ID: waiterID(run.ID), Due: run.ScheduledFor, Need: need}
}

// waiterID names run runID in its app's line.
func waiterID(runID int64) string { return fmt.Sprintf("run:%020d", runID) }

// dueNow is how many of sends could be attempted at now (pending, or
// waiting to retry and due): the slots their run needs at this opening.
func dueNow(sends []campaign.Send, now time.Time) int {
	n := 0
	for _, s := range sends {
		switch {
		case s.Status == campaign.SendPending,
			s.Status == campaign.SendRetryWait && (s.NextAttemptAt == nil || !s.NextAttemptAt.After(now)):
			n++
		}
	}
	return n
}

// waitsForQuota reports whether err hands the task back to wait for the
// quota (the run keeps its place in the line meanwhile, or it lapses).
func waitsForQuota(err error) bool {
	var s *Snooze
	return errors.As(err, &s) && s.Reason == "quota"
}

// waitTurn waits LinePoll (of the worker's clock, and at most that long of
// real time) for the runs ahead in the line, or snoozes when the server
// drains.
func (h *Handler) waitTurn(ctx context.Context, runID int64) error {
	if h.isDraining() {
		return h.snooze(runID, h.clock.Now(), 0, "shutdown")
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(h.drainCtx, cancel)
	defer stop()
	if _, err := h.clock.Wait(wctx, h.clock.Now().Add(LinePoll), LinePoll); err != nil && ctx.Err() != nil {
		return fmt.Errorf("run %d: waiting for its turn in the quota line: %w", runID, ctx.Err())
	}
	return nil
}

// keepPlace tells the guard that run, refused until until, will ask again
// within the inline wait, so that its place in the line outlives the wait.
// (A run that snoozes instead loses its place after quota.LineHold, and
// takes it again when it asks.) A place is a courtesy: an error is logged.
func (h *Handler) keepPlace(ctx context.Context, w quota.Waiter, app string, until time.Time) {
	d := min(max(until.Sub(h.clock.Now()), 0), h.cfg.InlineWait)
	if err := h.guard.Queue(ctx, app, w, d); err != nil {
		h.log.Warn().Err(err).Str("waiter", w.ID).Msg("quota: could not keep the run's place in line")
	}
}

// leaveLineTimeout bounds leaveLine's call.
const leaveLineTimeout = 2 * time.Second

// leaveLine gives up run's place in its app's line (best effort: a place
// left behind lapses within quota.LineHold).
func (h *Handler) leaveLine(ctx context.Context, run campaign.Run) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaveLineTimeout)
	defer cancel()
	if err := h.guard.Unqueue(lctx, run.App, waiterID(run.ID)); err != nil {
		h.log.Warn().Err(err).Int64("run", run.ID).Msg("quota: could not leave the line")
	}
}

// byDeliverBy is until, or the run's deliver_by when that comes first: a
// run whose next attempt or quota opening lies past its deliver_by can
// send nothing more (ClaimSend refuses), so it wakes at deliver_by to
// expire then, instead of staying running until the later wake.
func byDeliverBy(until time.Time, run campaign.Run) time.Time {
	if run.DeliverBy != nil && run.DeliverBy.Before(until) {
		return *run.DeliverBy
	}
	return until
}

// waitUntil waits inline for until (at most InlineWait of real time, and
// never into the task's last AttemptBudget before its deadline); if
// that is not enough, or the server drains, it returns the Snooze.
func (h *Handler) waitUntil(ctx context.Context, runID int64, until time.Time, reason string) error {
	maxWait := h.cfg.InlineWait
	if dl, ok := ctx.Deadline(); ok {
		// asynq counts a task still running at its deadline as failed,
		// whatever the handler returns then: wait inline only while an
		// attempt could still follow, and snooze instead.
		left := time.Until(dl) - h.cfg.AttemptBudget
		if left <= 0 {
			return h.snooze(runID, until, h.cfg.SnoozeLead, reason)
		}
		maxWait = min(maxWait, left)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(h.drainCtx, cancel)
	defer stop()
	reached, err := h.clock.Wait(wctx, until, maxWait)
	switch {
	case reached:
		return nil
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("run %d: waiting (%s): %w", runID, reason, ctx.Err())
	}
	return h.snooze(runID, until, h.cfg.SnoozeLead, reason)
}

// snooze builds the Snooze of a run waiting for until, asking asynq to
// deliver it lead before (it waits the rest inline).
func (h *Handler) snooze(runID int64, until time.Time, lead time.Duration, reason string) *Snooze {
	d := until.Sub(h.clock.Now()) - lead
	d = min(max(d, MinSnooze), h.cfg.MaxSnooze)
	h.metrics.snooze(reason)
	ev := h.log.Debug()
	if reason == "quota" {
		// What an operator asks of a pending send: why it has not gone out.
		ev = h.log.Info()
	}
	ev.Int64("run", runID).Str("reason", reason).Time("until", until).Dur("delay", d).Msg("run snoozed")
	return &Snooze{RunID: runID, Until: until, Delay: d, Reason: reason}
}

// attempt reserves a quota slot (for run waiting in its app's line, needing
// need slots), claims send sendID (0: the run's first send, when the run
// has not started; see firstSend), starting the run and
// its attempt, calls the service and records the outcome. It returns a
// non-zero instant when the run must wait for the quota until then, the
// send as recorded when an outcome was, and whether that outcome finished
// the run. The slot is reserved first: a full window costs no store write,
// and a send is in flight only while its call is under way.
func (h *Handler) attempt(ctx context.Context, run campaign.Run, sendID int64, need int, log zerolog.Logger) (time.Time, *campaign.Send, bool, error) {
	ids := fmt.Sprintf("campaign %d run %d send %d", run.CampaignID, run.ID, sendID)
	if sendID == 0 {
		ids = fmt.Sprintf("run %d first send", run.ID)
	}
	pusher, ok := h.pushers[run.App]
	if !ok {
		return time.Time{}, nil, false, fmt.Errorf("%s: app %q is not configured in this worker", ids, run.App)
	}
	h.inHand.begin(run.ID)
	defer h.inHand.end(run.ID)
	res, err := h.guard.ReserveFor(ctx, run.App, waiter(run, need))
	var noRoom *quota.NoRoomError
	if errors.As(err, &noRoom) && noRoom.By == quota.ConstraintLine {
		// The room is there, but due to runs ahead in the line: they take
		// it now, or their places lapse. Ask again shortly.
		log.Debug().Int("ahead", noRoom.Ahead).Msg("quota: runs ahead in line: waiting for the turn")
		h.metrics.lineWait(run.App)
		return time.Time{}, nil, false, h.waitTurn(ctx, run.ID)
	}
	if errors.As(err, &noRoom) {
		log.Debug().Str("by", string(noRoom.By)).Time("opens_at", noRoom.OpensAt).Msg("quota full: waiting")
		return noRoom.OpensAt, nil, false, nil
	}
	if err != nil {
		return time.Time{}, nil, false, fmt.Errorf("%s: reserve quota: %w", ids, err)
	}

	// The claim begins the attempt, so a claim that commits unseen would
	// leave a send in flight that nobody calls, unknown once its lease
	// lapses. It runs on a context the task's end does not cut short, and
	// a failed one is looked for (giveBackLostClaim).
	//
	// The attempt begins at its slot's instant: the ledger's sent_at and
	// the guard's entry are then the same instant, so a window rebuilt
	// from the ledger, or compared with it, counts the attempt where the
	// guard did (the claim follows within UseBy, checked below).
	started := res.At
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.StoreTimeout)
	var claimed campaign.Send
	if sendID == 0 {
		var ok bool
		// The run was not read: its deliver_by comes with the claim, for
		// the last look before the call.
		if claimed, run.DeliverBy, ok, err = h.store.ClaimFirstSend(cctx, run.ID, run.App, started, h.cfg.Lease); err == nil && !ok {
			err = errNotFirst
		}
	} else {
		claimed, err = h.store.ClaimSend(cctx, sendID, started, h.cfg.Lease)
	}
	cancel()
	if err != nil {
		relErr := h.guard.Release(context.WithoutCancel(ctx), res) // not claimed: the slot is not spent
		switch {
		case errors.Is(err, errNotFirst):
			log.Debug().Msg("run not claimable from the task's hints (started, cancelled, expired or not due): read from the store")
			return time.Time{}, nil, false, relErr
		case errors.Is(err, campaign.ErrIllegalTransition):
			log.Debug().Int64("send", sendID).Err(err).Msg("send taken or moved meanwhile")
			return time.Time{}, nil, false, relErr
		}
		lostErr := h.giveBackLostClaim(ctx, run.ID, sendID, res)
		return time.Time{}, nil, false, errors.Join(fmt.Errorf("%s: claim: %w", ids, err), relErr, lostErr)
	}
	if sendID == 0 {
		run.CampaignID = claimed.CampaignID
		ids = fmt.Sprintf("campaign %d run %d send %d", claimed.CampaignID, run.ID, claimed.ID)
		log = log.With().Int64("campaign", claimed.CampaignID).Logger()
	}
	tok := claimed.Token()
	// The slot is this claim's now: a rebuild of the windows after Redis
	// lost the reservation seeds the claim in flight under its name, which
	// Held finds, and Release gives back.
	res = res.Claimed(claimed.ID, claimed.Claim)
	if err := ctx.Err(); err != nil {
		// The task ended during the claim: give the claim and the slot back
		// rather than call with a context that is over.
		return time.Time{}, nil, false, errors.Join(fmt.Errorf("%s: %w", ids, err),
			h.notCalled(ctx, run.ID, tok, res, "the task ended as the send was claimed: not sent"))
	}
	// The claim is in the ledger now, and the slot must still be in Redis.
	// If Redis lost it since the reservation (flushed, restarted, failed
	// over), a rebuild may have read the ledger before this claim and given
	// the same slot to another worker: both go back, and the run reserves
	// again on the rebuilt windows (Guard.Held). A rebuild that read the
	// ledger after the claim counted it, under the claim's name: held. Held is false too once the
	// slot is past its UseBy: the slot counts from its reservation, and a
	// push starting later (a slow claim, the process paused, the clock
	// moved) could land after the margin, in a window that has moved on.
	held, err := h.guard.Held(ctx, res)
	if err != nil || !held {
		if err != nil {
			err = fmt.Errorf("%s: %w", ids, err)
		} else {
			log.Warn().Int64("send", claimed.ID).Msg("quota slot lost from Redis, or too old, before the call: claim given back, reserving again")
		}
		return time.Time{}, nil, false, errors.Join(err, h.notCalled(ctx, run.ID, tok, res, "its quota slot was lost from Redis, or too old, before the call: not sent"))
	}
	// The last look before the call, on this worker's clock (Held's answer
	// may itself have been slow): nothing but the call comes after it.
	switch now := h.clock.Now(); {
	case ctx.Err() != nil:
		// The task ended during Held: a call with a context that is over
		// sends nothing, yet would spend an attempt.
		return time.Time{}, nil, false, errors.Join(fmt.Errorf("%s: %w", ids, ctx.Err()),
			h.notCalled(ctx, run.ID, tok, res, "the task ended before the call: not sent"))
	case now.After(res.UseBy):
		log.Warn().Int64("send", claimed.ID).Time("reserved_at", res.At).Time("now", now).Msg("quota slot too old before the call: claim given back, reserving again")
		return time.Time{}, nil, false, h.notCalled(ctx, run.ID, tok, res, "its quota slot was too old before the call: not sent")
	case run.DeliverBy != nil && !now.Before(*run.DeliverBy):
		// The claim was judged at the slot's instant; deliver_by has come
		// since (a slow claim): the run is read again and expires.
		log.Info().Int64("send", claimed.ID).Time("deliver_by", *run.DeliverBy).Msg("deliver_by passed during the claim: not sent")
		return time.Time{}, nil, false, h.notCalled(ctx, run.ID, tok, res, "deliver_by passed during the claim: not sent")
	}
	log = log.With().Int64("send", claimed.ID).Int("attempt", claimed.Attempts).Logger()

	body := claimed.Body
	pctx := ctx
	if h.metrics != nil {
		// Each host of a fail-over apart: the call's result tells only the
		// last one.
		pctx = pushapi.WithAttemptObserver(ctx, h.metrics.attempt)
	}
	callStart := time.Now() // real elapsed time, for the log only
	pres, perr := pusher.Push(pctx, &body)
	elapsed := time.Since(callStart)

	d := decide(pres, perr, claimed.Attempts, h.clock.Now(), h.cfg.Backoff, h.jitter())
	h.metrics.send(run.App, string(d.class))
	// The fire lag is observed once per send, at the first attempt of a
	// run never retried: an operator's retry resets attempts to 0, and its
	// attempt hours later is not a late fire. A run read from the store
	// carries its Retries; a first send claimed from the task's hints
	// (sendID 0) has no run read, but a retried run's send keeps its claim
	// count and its last outcome, so only a send's first claim ever, with
	// no outcome before it, is a never-retried run's.
	neverRetried := run.Retries == 0
	if sendID == 0 {
		neverRetried = claimed.Claim == 1 && claimed.LastCode == 0 && claimed.LastMessage == ""
	}
	if neverRetried && claimed.Attempts == 1 && d.record.Status != campaign.SendPending {
		// The send's first attempt: a 429 gave its attempt back (pending),
		// so the send's next call is its first again and is observed then.
		h.metrics.lag(run.App, started.Sub(run.ScheduledFor))
	}

	// What the service answered is recorded first, even when the task's
	// context has ended, on its own budget: a slow slot release or block
	// before it would leave the send in flight, unknown when its lease
	// lapses (a retry lost, a refusal not recorded as failed). The block,
	// the hold and the release come after, on one budget of their own (a
	// stopping worker waits for two: Server.Shutdown); until the block,
	// another send of the app may call and meet the same 429, which sends
	// nothing.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.StoreTimeout)
	defer cancel()
	var errs []error
	var recorded *campaign.Send
	sd, finished, err := h.recordOutcome(sctx, run.ID, tok, d.record)
	// The status the store holds now: with the record failed, the send is
	// still in flight, whatever the service answered, or was settled when
	// its lease lapsed.
	status := string(d.record.Status)
	if err != nil {
		held, msg := campaign.SendInFlight, "outcome not recorded: the send becomes unknown when its lease lapses"
		if te := (*campaign.TransitionError)(nil); errors.As(err, &te) && te.Entity == "send" && te.From != string(campaign.SendInFlight) {
			held, msg = campaign.SendStatus(te.From), "outcome not recorded: the send's lease lapsed and it was settled "+te.From
		}
		status = "not recorded (" + string(held) + ")"
		log.Error().Err(err).Str("outcome", string(d.class)).Str("push_id", d.record.PushID).
			Str("message_uid", d.record.MessageUID).Msg(msg)
		errs = append(errs, fmt.Errorf("%s: record %s: %w", ids, d.record.Status, err))
		h.inHand.calledUnrecorded(tok)
	} else {
		recorded = &sd
	}
	actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.StoreTimeout)
	defer acancel()
	after := func(f func(ctx context.Context) error) {
		if err := f(actx); err != nil {
			errs = append(errs, err)
		}
	}
	var wait time.Time
	if d.blockApp {
		after(func(actx context.Context) error {
			until, err := h.guard.BlockRateLimited(actx, run.App, d.retryAfter)
			wait = until
			return err
		})
	}
	if d.holdFor > 0 {
		// The hold only keeps the app's other sends from spending attempts
		// and slots on the announced outage (this one waits in retry_wait).
		after(func(actx context.Context) error {
			until, err := h.guard.HoldFor(actx, run.App, d.holdFor)
			if err == nil {
				log.Warn().Time("until", until).Msg("the service asked for a wait (Retry-After): every send of the app holds until then")
			}
			return err
		})
	}
	if d.releaseQuota {
		// After the block: a 429's slot given back first could be taken
		// by another send of the app, which would meet the same 429.
		after(func(actx context.Context) error { return h.guard.Release(actx, res) })
	}

	ev := log.Info()
	switch d.class {
	case pushapi.OutcomeSent:
		if d.record.MessageUID == "" {
			ev = log.Warn() // sent, but with nothing to trace it by
		}
	case pushapi.OutcomeRetry, pushapi.OutcomeRateLimited:
		ev = log.Warn()
	default:
		ev = log.Error()
	}
	ev = ev.Int("code", d.code).Str("outcome", string(d.class)).Str("status", status).Dur("latency", elapsed)
	if perr != nil {
		ev = ev.Err(perr)
	}
	if d.record.Status == campaign.SendRetryWait {
		ev = ev.Time("next_attempt", d.record.NextAttempt)
	}
	msg := "push attempt"
	if d.class == pushapi.OutcomeSent {
		ev = ev.Str("message_uid", d.record.MessageUID).Str("push_id", d.record.PushID)
		if d.record.MessageUID == "" {
			msg = "push attempt: the service answered 200 without a messageUID"
		}
	}
	ev.Msg(msg)
	return wait, recorded, finished, errors.Join(errs...)
}

// recordOutcome records o (finishing the run when o sends its last
// send), trying again until ctx (the handler's StoreTimeout, well inside
// the send's lease) ends: losing a sent push's messageUID to a database
// restart or fail-over would turn it into unknown, and an operator's
// `retry --unknown` into a duplicate push. A try refused as an illegal
// transition after a failed one may follow a commit whose answer was lost:
// when the send holds this claim's outcome already, that is success.
func (h *Handler) recordOutcome(ctx context.Context, runID int64, tok campaign.ClaimToken, o campaign.Outcome) (campaign.Send, bool, error) {
	delay := 100 * time.Millisecond
	for try := 0; ; try++ {
		s, finished, err := h.store.RecordOutcomeAndFinish(ctx, tok, o)
		switch {
		case err == nil:
			return s, finished, nil
		case errors.Is(err, campaign.ErrIllegalTransition):
			if try > 0 {
				if s, finished, ok := h.alreadyRecorded(ctx, runID, tok, o); ok {
					return s, finished, nil
				}
			}
			return s, finished, err
		}
		h.log.Warn().Err(err).Int64("run", runID).Int64("send", tok.SendID).Int("try", try+1).
			Msg("outcome not recorded yet: trying again")
		if ctx.Err() != nil || !sleepReal(ctx, delay) { // real back-off between database retries
			return campaign.Send{}, false, err
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// alreadyRecorded reports whether send tok.SendID of run runID holds o
// under claim tok.Claim, as a commit whose answer was lost leaves it, and
// whether that commit finished the run (RecordOutcomeAndFinish only ever
// finishes one as done).
func (h *Handler) alreadyRecorded(ctx context.Context, runID int64, tok campaign.ClaimToken, o campaign.Outcome) (campaign.Send, bool, bool) {
	run, sends, err := h.store.GetRun(ctx, runID)
	if err != nil {
		return campaign.Send{}, false, false
	}
	// A send waiting for a worker (pending, retry_wait) in a cancelled run
	// is stored cancelled: the same commit.
	status := func(s campaign.SendStatus) bool {
		return s == o.Status || (s == campaign.SendCancelled && (o.Status == campaign.SendPending || o.Status == campaign.SendRetryWait))
	}
	for _, sd := range sends {
		if sd.ID == tok.SendID && sd.Claim == tok.Claim && status(sd.Status) &&
			sd.MessageUID == o.MessageUID && sd.PushID == o.PushID {
			h.log.Warn().Int64("run", runID).Int64("send", sd.ID).Msg("outcome committed, its answer lost: recorded")
			return sd, run.Status == campaign.RunDone, true
		}
	}
	return campaign.Send{}, false, false
}

// giveBack returns a claim of run runID whose call was never made to
// pending, the attempt not spent, trying again for StoreTimeout as an
// outcome is recorded: a claim left in flight by one dropped connection
// would become unknown when its lease lapses, a send never called.
func (h *Handler) giveBack(ctx context.Context, runID int64, tok campaign.ClaimToken, why string) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.StoreTimeout)
	defer cancel()
	if _, _, err := h.recordOutcome(sctx, runID, tok, campaign.Outcome{Status: campaign.SendPending, Message: why, At: h.clock.Now()}); err != nil {
		return fmt.Errorf("send %d: give the claim back: %w", tok.SendID, err)
	}
	return nil
}

// notCalled gives back a claim of run runID whose call is not made, and its
// quota slot.
func (h *Handler) notCalled(ctx context.Context, runID int64, tok campaign.ClaimToken, res quota.Reservation, why string) error {
	gave := h.giveBack(ctx, runID, tok, why)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.StoreTimeout)
	defer cancel()
	return errors.Join(gave, h.guard.Release(rctx, res))
}

// errNotFirst: ClaimFirstSend found the run started, not due, expired or
// gone.
var errNotFirst = errors.New("not the run's first claim")

// giveBackLostClaim looks for the claim of a ClaimSend (or, sendID 0, a
// ClaimFirstSend) that failed: when the statement committed and only its
// answer was lost, the send is in flight in this process's name, claimed
// at started, and nobody will call it. It goes back to pending. (If the
// store cannot even be read, such a send becomes unknown when its lease
// lapses.)
func (h *Handler) giveBackLostClaim(ctx context.Context, runID, sendID int64, res quota.Reservation) error {
	started := res.At
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.StoreTimeout)
	defer cancel()
	_, sends, err := h.store.GetRun(sctx, runID)
	if err != nil {
		what := fmt.Sprintf("send %d", sendID)
		if sendID == 0 {
			what = fmt.Sprintf("run %d first send", runID)
		}
		return fmt.Errorf("%s: look for a claim whose answer was lost: %w", what, err)
	}
	for _, sd := range sends {
		// Stored to the microsecond.
		if (sd.ID == sendID || (sendID == 0 && sd.Index == 0)) && sd.Status == campaign.SendInFlight && sd.ClaimedBy == h.store.Claimant() &&
			sd.ClaimedAt != nil && sd.ClaimedAt.Sub(started).Abs() <= time.Microsecond {
			if h.inHand.others(runID) || h.inHand.wasCalled(sd.Token()) {
				// Another task of this process works on the run and may
				// have made this claim at the same instant, and be calling
				// it, or a task of it called this claim and could not
				// record the answer: not known to be this attempt's, or
				// known not to be. It becomes unknown when its lease
				// lapses; never sent twice.
				h.log.Warn().Int64("run", runID).Int64("send", sd.ID).Msg("a claim like the one whose answer was lost is in flight, with another task of this process on the run: left to its lease")
				return nil
			}
			h.log.Warn().Int64("run", runID).Int64("send", sd.ID).Msg("claim committed, its answer lost: given back")
			// A rebuild since may have counted the claim under its name:
			// that slot goes back too.
			return errors.Join(h.giveBack(sctx, runID, sd.Token(), "its claim's answer was lost: not sent"),
				h.guard.Release(sctx, res.Claimed(sd.ID, sd.Claim)))
		}
	}
	return nil
}

// sleepReal waits d of real time; false when ctx ended first.
func sleepReal(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
