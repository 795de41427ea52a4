package campaign

import (
	"context"
	"time"
)

// Store is the source of truth for campaigns, runs and sends. Every status
// change goes through the transition table (CanTransition) and is a
// compare-and-set, so concurrent schedulers and workers (goroutines or
// processes) never fire a campaign twice or send a send twice. Errors wrap
// the ids involved; a missing row is a *NotFoundError (errors.Is
// ErrNotFound), a refused change a *TransitionError (errors.Is
// ErrIllegalTransition).
type Store interface {
	// Create stores a validated campaign (see ParseFile / Validate) and
	// returns it with its id and timestamps. c.NextRunAt is its first fire;
	// nil creates it done.
	Create(ctx context.Context, c Campaign, now time.Time) (Campaign, error)
	// CreateIdempotent is Create under a client's idempotency key, atomic
	// across goroutines and processes: the first create under key.Key
	// stores the campaign with the key and key.RequestHash; any other
	// (before, during or after it commits) stores nothing and returns the
	// campaign created under the key as it is now, with replayed true when
	// its RequestHash is the same, or an *IdempotencyKeyReusedError
	// (errors.Is ErrIdempotencyKeyReused) when it is not. A key stays with
	// its campaign for good, whatever its status (a cancel does not free
	// it).
	CreateIdempotent(ctx context.Context, c Campaign, key IdempotencyKey, now time.Time) (created Campaign, replayed bool, err error)
	// FindIdempotent looks up the campaign created under key.Key, as it is
	// now: found is false when there is none; an *IdempotencyKeyReusedError
	// when it was created from another request (key.RequestHash differs).
	// A caller checks it before validating a request (a replay must not be
	// refused for what changed since, such as an `at` now past) and still
	// creates with CreateIdempotent, which settles races.
	FindIdempotent(ctx context.Context, key IdempotencyKey) (c Campaign, found bool, err error)
	// List returns campaigns matching f in id order, at most f.Limit, and
	// the cursor of the next page (0 when this is the last page). A page
	// holds fewer campaigns than f.Limit when theirs would pass
	// MaxListPageBytes: next, not the page's length, tells whether more
	// campaigns match.
	List(ctx context.Context, f ListFilter) (campaigns []Campaign, next int64, err error)
	// GetCampaign returns a campaign without its runs.
	GetCampaign(ctx context.Context, id int64) (Campaign, error)
	// Get returns a campaign with one page of its runs, newest first (by
	// id, descending), each with its sends in index order; the counts of
	// all its runs by status; and the cursor of the next older page. It
	// reads all of it in one read-only transaction, so the page and the
	// counts agree. Nothing it reads grows with the campaign's run count
	// but the counts' scan: an every-minute campaign has 525,000 runs a
	// year. A page holds at most q.Limit runs, and fewer when their sends'
	// bodies would pass MaxRunsPageBytes.
	Get(ctx context.Context, id int64, q RunsQuery) (Detail, error)
	// RunsWithStatus returns up to limit runs of a campaign whose status is
	// one of statuses and whose id is above afterID, in id order (without
	// their sends): a walk over the runs an operation concerns.
	RunsWithStatus(ctx context.Context, campaignID int64, statuses []RunStatus, afterID int64, limit int) ([]Run, error)
	// GetRun returns a run and its sends in index order.
	GetRun(ctx context.Context, runID int64) (Run, []Send, error)

	// ClaimDue atomically takes up to limit active campaigns whose
	// next_run_at <= now, asks plan what to do with each, inserts the Run
	// (unique per campaign and scheduled_for) with its rendered sends,
	// advances next_run_at (or marks the campaign done) and returns the runs
	// created. Concurrent callers never get the same campaign. plan runs
	// inside the claiming transaction: it must be quick and must not call
	// the store. A campaign whose plan fails is left as it was and reported
	// in the returned error (joined); the others are still claimed, and a
	// refused campaign does not take one of the limit's places (with up to
	// 10,000 refused campaigns due first, up to limit are still claimed).
	// due is the horizon (campaigns due at or before it are claimed, and
	// plan is asked at it); now is the instant written as the rows'
	// created_at and updated_at (a scheduler claims ahead: due is later).
	ClaimDue(ctx context.Context, due, now time.Time, limit int, plan PlanFunc) ([]Run, error)
	// MarkRunEnqueued records that the run's task is in the queue.
	MarkRunEnqueued(ctx context.Context, runID int64, at time.Time) error
	// MarkRunsEnqueued records the same for many runs in one statement;
	// ids that do not exist are ignored.
	MarkRunsEnqueued(ctx context.Context, runIDs []int64, at time.Time) error
	// RunsToEnqueue returns up to limit pending runs never enqueued (or
	// re-opened by a retry) whose instant is at or before due, with id >
	// afterID, by id: the reconciler pages through them and enqueues them.
	RunsToEnqueue(ctx context.Context, due time.Time, afterID int64, limit int) ([]Run, error)
	// OpenRuns returns pending and running runs with id > afterID, so the
	// reconciler can check that the queue still holds their tasks.
	OpenRuns(ctx context.Context, afterID int64, limit int) ([]Run, error)
	// StartRun moves a pending run to running (a no-op when it is running).
	StartRun(ctx context.Context, runID int64, now time.Time) (Run, error)
	// FinishRun settles a run whose sends are all settled: done, partially
	// failed, failed or expired, from its sends. With sends still pending,
	// in flight or waiting to retry it returns a *TransitionError.
	FinishRun(ctx context.Context, runID int64, now time.Time) (Run, error)
	// ExpireRun expires the run's pending and retry_wait sends (deliver_within
	// passed) and settles the run when nothing is left in flight. It checks
	// the run's deliver_by again under the run's lock: a run without one, or
	// whose deliver_by is after now (an operator retry re-opened it since the
	// caller read it), is left as it is with a *TransitionError.
	ExpireRun(ctx context.Context, runID int64, now time.Time) (Run, error)
	// ResetForRetry re-opens a settled run: its failed and expired sends (and
	// unknown ones when opts.Unknown) go back to pending with attempts reset;
	// the run goes back to pending, not enqueued, with a fresh deliver_by.
	// It returns the number of sends reset (0 leaves the run as it was).
	ResetForRetry(ctx context.Context, runID int64, opts RetryOptions, now time.Time) (int, error)
	// RetriesUnderKey returns the runs re-opened under a retry's
	// idempotency key (RetryOptions.Key), in run id order: none for a key
	// never used.
	RetriesUnderKey(ctx context.Context, key string) ([]RetryRecord, error)

	// ClaimSend moves a send from pending (or retry_wait once due) to
	// in_flight by compare-and-set, counts an attempt, begins it at now (its
	// sent_at: the caller calls /push.json next, its quota slot already
	// reserved) and leases it until now+lease; the send's run must be
	// pending or running and not past its deliver_by at now, and a pending
	// run becomes running in the same atomic step. Losing the race, or a run that is no longer open, is a
	// *TransitionError.
	ClaimSend(ctx context.Context, sendID int64, now time.Time, lease time.Duration) (Send, error)
	// ClaimFirstSend is ClaimSend of a run's first send (index 0) by a
	// worker that has not read the run: it claims only a pending run of
	// app, due at now (scheduled_for not after now) and not past its
	// deliver_by, whose first send is pending, and the run becomes running
	// in the same atomic step; deliverBy is the run's (nil: none), which the
	// caller has not read. Otherwise claimed is false and no send is
	// claimed: the caller reads the run and decides.
	ClaimFirstSend(ctx context.Context, runID int64, app string, now time.Time, lease time.Duration) (sd Send, deliverBy *time.Time, claimed bool, err error)
	// RecordOutcome ends the claim with o (sent, retry_wait, failed,
	// unknown, pending to give the attempt back: a 429, or a claim not
	// called, or expired).
	// sent and unknown enter the quota ledger.
	// A claim whose lease lapsed (its send settled unknown) still records
	// its own 200, and an outcome that sent nothing (KeepsQuota false:
	// pending, a refusal, a call never written or answered 503 without a
	// service code) while its run is open;
	// anything else is a *TransitionError.
	RecordOutcome(ctx context.Context, tok ClaimToken, o Outcome) (Send, error)
	// RecordOutcomeAndFinish is RecordOutcome that also finishes the run:
	// when o is sent and every other send of the running run is sent too,
	// the run moves to done (finished at o.At) in the same atomic step and
	// finished is true. Otherwise finished is false and the run is as it
	// was: FinishRun settles it once its last send settles.
	RecordOutcomeAndFinish(ctx context.Context, tok ClaimToken, o Outcome) (sd Send, finished bool, err error)
	// ResolveStaleSends settles in_flight sends whose lease ended before
	// now as unknown (the attempt may have reached the service) and enters
	// them in the quota ledger. It returns the sends it changed.
	ResolveStaleSends(ctx context.Context, now time.Time) ([]Send, error)

	// Pause, Resume and Cancel change a campaign's status. Cancel also
	// cancels its unfinished runs and their pending and retry_wait sends,
	// and returns how many of each it cancelled (in the same transaction).
	Pause(ctx context.Context, id int64, now time.Time) (Campaign, error)
	Resume(ctx context.Context, id int64, now time.Time) (Campaign, error)
	Cancel(ctx context.Context, id int64, now time.Time) (Cancellation, error)

	// SentBetween is the quota ledger: the sent_at of every attempt of the
	// app's sends that reached or may have reached the service (sent and
	// unknown) with from <= sent_at < to, ascending. An attempt stays in the
	// ledger when an operator later retries its send.
	SentBetween(ctx context.Context, app string, from, to time.Time) ([]time.Time, error)
	// BeginDirectAttempt enters a push made outside any campaign (tagcast
	// push send) in the ledger before the call, as possibly sent;
	// EndDirectAttempt settles it: sent or unknown stay, any other outcome
	// (refused without sending) leaves the ledger.
	BeginDirectAttempt(ctx context.Context, app string, at time.Time) (int64, error)
	EndDirectAttempt(ctx context.Context, id int64, outcome SendStatus) error

	Close() error
}

// ListFilter selects campaigns for List. Zero fields do not filter.
type ListFilter struct {
	App    string
	Status CampaignStatus
	Name   string // substring of the name
	After  int64  // keyset cursor: campaigns with id > After
	// Limit is the page size: 50 when 0, at most 1000; a page may hold
	// fewer campaigns (see MaxListPageBytes).
	Limit int
}

// MaxListPageBytes bounds a page of campaigns (Store.List) in bytes as well
// as in campaigns: a campaign is as large as its push (a user-id audience
// of 54,000 ids is a 1 MiB campaign file the API accepts) and its vars, so
// a page of 1,000 campaigns could be a gigabyte. Store.List stops adding
// campaigns to a page before their names, pushes, schedules and vars (as
// the database stores them) pass MaxListPageBytes, always keeping at least
// one campaign, and sets the next cursor as for a page cut by its limit: a
// page may hold fewer campaigns than its limit although more match. It is
// the same 8 MiB as MaxRunsPageBytes, for the same reason: a page of more
// than one campaign stays under the admin client's 64 MiB answer limit
// even if the answer's JSON escaped every byte (6 bytes for 1, at most); a
// campaign larger than the budget is a page by itself.
const MaxListPageBytes = 8 << 20

// Limits of a page of a campaign's runs (Store.Get).
const (
	DefaultRunsLimit = 100
	MaxRunsLimit     = 1000
	// MaxRunsPageBytes bounds a page in bytes as well as in runs: a run is
	// as large as its sends' bodies (a push may carry 128 KB of content,
	// repeated in every 1,000-id chunk of a user-id audience), so a page
	// of MaxRunsLimit runs could be gigabytes. Store.Get stops adding runs
	// to a page before their sends' bodies (as the database stores them)
	// pass MaxRunsPageBytes, always keeping at least one run, and sets
	// RunsNext as for a page cut by the limit: a page may hold fewer runs
	// than its limit although older runs remain. At 8 MiB a page of more
	// than one run stays under the admin client's 64 MiB answer limit even
	// if the answer's JSON escaped every byte of the bodies (6 bytes for 1,
	// at most); a run larger than the budget is a page by itself.
	MaxRunsPageBytes = 8 << 20
)

// RunsQuery selects the page of a campaign's runs Store.Get returns.
type RunsQuery struct {
	// Before is the keyset cursor: runs with an id below it (the RunsNext
	// of the previous page); 0 starts at the newest run.
	Before int64
	// Limit is the page size: DefaultRunsLimit when 0, at most
	// MaxRunsLimit. A page may hold fewer runs (see MaxRunsPageBytes):
	// RunsNext, not the page's length, tells whether older runs remain.
	Limit int
}

// Detail is a campaign with one page of its runs and their sends.
type Detail struct {
	Campaign
	// Runs is the page, newest first.
	Runs []RunDetail `json:"runs"`
	// RunCounts counts every run of the campaign (not only the page's) by
	// status; every run status is present.
	RunCounts map[RunStatus]int `json:"run_counts"`
	// RunsNext is the Before of the next, older, page; 0 (omitted) on the
	// last page.
	RunsNext int64 `json:"runs_next,omitempty"`
}

// RunDetail is a run with its sends.
type RunDetail struct {
	Run
	Sends []Send `json:"sends"`
}

// RetryOptions selects what ResetForRetry re-sends.
type RetryOptions struct {
	// Unknown re-sends unknown sends too: they may already have been
	// delivered, so only an operator asking explicitly does that.
	Unknown bool
	// Key, when not nil, is the retry's idempotency key: a run re-opened
	// under Key.Key is recorded with it, in the transaction that re-opens
	// it, and a retry under the same key does not re-open it again (a
	// *RetriedUnderKeyError). The first run re-opened under a key binds it
	// to Key.RequestHash: the key with another RequestHash is then an
	// *IdempotencyKeyReusedError, and re-opens nothing.
	Key *IdempotencyKey
}

// RetryRecord is a run an operator retry re-opened under an idempotency
// key (RetriesUnderKey).
type RetryRecord struct {
	RunID       int64
	Reset       int    // sends re-opened
	RequestHash string // of the retry request the key is bound to
	At          time.Time
}

// Outcome is the result of one claimed attempt.
type Outcome struct {
	Status      SendStatus // sent, retry_wait, failed, unknown, pending (release) or expired
	PushID      string     // sent
	MessageUID  string     // sent
	Code        int        // the service's code, if any
	Message     string     // the service's message or the error
	NextAttempt time.Time  // retry_wait: claimable from then
	At          time.Time  // when the outcome was known
	// KeepsQuota: a retry_wait or failed attempt kept its quota
	// reservation, because the service may count it (a 5xx answer, say). It
	// then goes into the quota ledger as unknown, like a sent or unknown
	// attempt, so that windows rebuilt from the ledger after Redis lost them
	// count what the guard counted. Ignored for other statuses.
	KeepsQuota bool
}
