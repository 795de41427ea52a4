package quota

import (
	"context"
	"crypto/rand"
	_ "embed" // the Lua scripts
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

var (
	//go:embed runid.lua
	runIDSource string
	//go:embed reserve.lua
	reserveSource string
	//go:embed seed.lua
	seedSource string
	//go:embed block.lua
	blockSource string
	//go:embed held.lua
	heldSource string
	//go:embed generation.lua
	generationSource string
	//go:embed release.lua
	releaseSource string
	//go:embed line.lua
	lineSource string
	//go:embed queue.lua
	queueSource string
	//go:embed unblock.lua
	unblockSource string
	//go:embed syncblock.lua
	syncBlockSource string

	reserveScript   = redis.NewScript(runIDSource + lineSource + reserveSource)
	queueScript     = redis.NewScript(lineSource + queueSource)
	seedScript      = redis.NewScript(runIDSource + seedSource)
	blockScript     = redis.NewScript(blockSource)
	heldScript      = redis.NewScript(runIDSource + heldSource)
	genScript       = redis.NewScript(runIDSource + generationSource)
	releaseScript   = redis.NewScript(releaseSource)
	unblockScript   = redis.NewScript(unblockSource)
	syncBlockScript = redis.NewScript(syncBlockSource)
)

// DefaultPrefix starts every Redis key of the guard.
const DefaultPrefix = "tagcast:quota:"

// DefaultMargin is how much longer than its window a reservation is counted:
// the request reaches the service a little after the reservation (latency,
// clock differences), and the service stamps the send on arrival.
const DefaultMargin = 10 * time.Second

// NoMargin, as Options.Margin, counts reservations exactly at their instant.
const NoMargin time.Duration = -1

// Key lifetimes. Entries outlive the longest window (a calendar day is up to
// 27 hours across a clock change) plus the margin: Guard.keep. The marker
// lives twice as long, so a missing marker with live entries only ever
// means lost state.
const (
	// longestDay bounds the longest window of any policy: a calendar day
	// across a clock change (a rolling day is 24 hours, an hour at most
	// one). Most changes move clocks by an hour; Antarctica/Troll's move
	// them by two every October (26 hours), and Antarctica/Casey fell back
	// three across midnight each March from 2018 to 2023 (a 27-hour day,
	// calendar.Day's own). It was 26 hours: in such a day's last hour its
	// first sends were trimmed while the day still counted them, and a 4th
	// push of 3 was granted (found by a review). 48 hours leaves room for
	// a longer change tzdata may bring, at the cost of a day more of
	// entries in the windows' sets.
	longestDay = 48 * time.Hour
)

// ledgerHorizon is the "to" of a rebuild's ledger read: no send is later.
var ledgerHorizon = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// maxRebuilds bounds Reserve's rebuild-and-retry loop (state lost again
// between the rebuild and the reservation).
const maxRebuilds = 3

// Ledger is the store's record of sends: the instants of every send of app
// that reached (or may have reached) the service in [from, to). The campaign
// store implements it; sends in flight should be included, or a rebuild
// while they are in flight forgets them.
type Ledger interface {
	SentBetween(ctx context.Context, app string, from, to time.Time) ([]time.Time, error)
}

// Attempt is one attempt of the ledger, named by the send and claim that
// made it, or (Send 0) by its own ledger entry: an attempt of no send's
// claim, such as `push send`'s (Entry 0: not named).
type Attempt struct {
	At          time.Time
	Send, Claim int64
	Entry       int64
}

// AttemptLedger is a Ledger that names the claim behind each attempt, in
// flight or recorded. A rebuild from it seeds a claimed attempt under the
// member its reservation carries once claimed (Reservation.Claimed), so
// that Held finds the slot the rebuild counted for that very claim, and
// Release gives it back. Without the names a claim in flight when Redis
// lost its state was seeded under an anonymous member: its worker found its
// reservation gone and gave the claim back, and the seeded slot stayed
// counted, unused, for its whole window (up to a day), found by the e2e
// chaos test's lateness check. *sqlstore.Store is one.
type AttemptLedger interface {
	Ledger
	AttemptsBetween(ctx context.Context, app string, from, to time.Time) ([]Attempt, error)
}

// claimMember is the entries member of send's claim, in flight or recorded.
func claimMember(send, claim int64) string {
	return "claim:" + strconv.FormatInt(send, 10) + ":" + strconv.FormatInt(claim, 10)
}

// directMember is the entries member of ledger entry entry, an attempt of
// no send (Attempt.Entry) begun at at. The instant is part of the name
// because the entry alone is not unique over time: SQLite gives a new row
// the id of a deleted last row (its quota_ledger id is a plain INTEGER
// PRIMARY KEY), and a direct push refused without sending deletes its row.
// The next `push send` then carried the name the released set (release.lua)
// remembers for a day, and a rebuild skipped that sent push as given back:
// the day counted one push too few and the guard granted a 4th of 3. The
// store keeps sent_at to the microsecond, as the reservation's At is named.
func directMember(entry int64, at time.Time) string {
	return "direct:" + strconv.FormatInt(entry, 10) + ":" + strconv.FormatInt(at.UnixMicro(), 10)
}

// BlockStore keeps the blocks the service's answers put on apps (a 429/1008,
// or a Retry-After on a 5xx: Block, BlockRateLimited, HoldFor), so that
// the guard's rebuild of a Redis that lost its state (flushed, restarted,
// the embedded one of each `tagcast push send`) blocks the app again: the
// service's closed window is quota knowledge too. A Ledger that is also a
// BlockStore (*sqlstore.Store is one) gets Block's writes and the rebuild's
// read.
type BlockStore interface {
	// SaveBlock records app blocked until until, keeping any later block,
	// and returns the end of the block recorded afterwards.
	SaveBlock(ctx context.Context, app string, until, now time.Time) (time.Time, error)
	// BlockedUntil is the end of app's recorded block, zero if none.
	BlockedUntil(ctx context.Context, app string) (time.Time, error)
}

// Options configure a Guard.
type Options struct {
	// Client is the shared Redis client (single node, Sentinel or cluster).
	Client redis.UniversalClient
	// Ledger rebuilds lost windows; required.
	Ledger Ledger
	// Apps maps an app name to its quota policy.
	Apps map[string]Policy
	// Prefix starts every key (several deployments or tests on one Redis);
	// "" means DefaultPrefix.
	Prefix string
	// Margin widens every window (see DefaultMargin); 0 means DefaultMargin,
	// NoMargin means none.
	Margin time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RealNow is the real time that places in an app's line lapse on
	// (they stand for live processes, see Waiter); nil means time.Now.
	// Only tests set it.
	RealNow func() time.Time
	// Logger receives reservations (debug), rebuilds and blocks (info).
	Logger zerolog.Logger
}

// Guard reserves sends against each app's quota. It is safe for concurrent
// use, and any number of Guards in any number of processes may share a Redis.
type Guard struct {
	client redis.UniversalClient
	ledger Ledger
	apps   map[string]resolved
	prefix string
	margin time.Duration
	// keep is how far back the guard keeps entries (keepFrom) and how long
	// an app's keys outlive their last write; keepMarker outlives keep.
	keep, keepMarker time.Duration
	now, realNow     func() time.Time
	log              zerolog.Logger
}

// New validates the options and every app's policy.
func New(opts Options) (*Guard, error) {
	if opts.Client == nil {
		return nil, errors.New("quota: Options.Client is required")
	}
	if opts.Ledger == nil {
		return nil, errors.New("quota: Options.Ledger is required (windows are rebuilt from it)")
	}
	g := &Guard{
		client:  opts.Client,
		ledger:  opts.Ledger,
		apps:    make(map[string]resolved, len(opts.Apps)),
		prefix:  opts.Prefix,
		margin:  opts.Margin,
		now:     opts.Now,
		realNow: opts.RealNow,
		log:     opts.Logger,
	}
	if g.prefix == "" {
		g.prefix = DefaultPrefix
	}
	switch {
	case g.margin == 0:
		g.margin = DefaultMargin
	case g.margin == NoMargin:
		g.margin = 0
	case g.margin < 0:
		return nil, fmt.Errorf("quota: Options.Margin: must not be negative, got %s", opts.Margin)
	}
	g.keep = longestDay + g.margin
	g.keepMarker = 2 * g.keep
	if g.now == nil {
		g.now = time.Now
	}
	if g.realNow == nil {
		g.realNow = time.Now
	}
	var problems []string
	for name, p := range opts.Apps {
		r, err := p.resolve("apps." + name + ".quota")
		var pe *PolicyError
		if errors.As(err, &pe) {
			problems = append(problems, pe.Problems...)
			continue
		}
		g.apps[name] = r
	}
	if len(problems) > 0 {
		return nil, &PolicyError{Problems: problems}
	}
	return g, nil
}

// Reservation is a slot taken in both of an app's windows.
type Reservation struct {
	App string
	// ID identifies the reservation in Redis (for Release).
	ID string
	// At is the reservation instant (the Guard's clock).
	At time.Time
	// UseBy is the latest instant (the Guard's clock) at which the push
	// may begin: the slot counts from At, so a push that starts much later
	// (a paused process, a clock moved) may land in a window that has moved
	// on. A caller past UseBy gives the slot back and reserves again.
	UseBy time.Time
	// HourUsed and DayUsed count the slots taken, this one included.
	HourUsed, DayUsed int
	// HourLimit and DayLimit are the windows' limits at that instant.
	HourLimit, DayLimit int
	// claim is the entries member of the claim the reservation was spent
	// on (Claimed): a rebuild seeds the claim's attempt under it.
	claim string
}

// Claimed returns res spent on claim claim of send: the member a rebuild
// from an AttemptLedger seeds that attempt under. Held finds the slot under
// either name, and Release gives back both.
func (r Reservation) Claimed(send, claim int64) Reservation {
	r.claim = claimMember(send, claim)
	return r
}

// Direct returns res spent on the attempt of no send that the ledger
// recorded as entry entry (`push send`'s): like Claimed, the member a
// rebuild from an AttemptLedger seeds it under.
func (r Reservation) Direct(entry int64) Reservation {
	r.claim = directMember(entry, r.At)
	return r
}

// Constraint names what keeps an app from sending.
type Constraint string

// Constraints reported by NoRoomError.
const (
	ConstraintHour    Constraint = "hour"
	ConstraintDay     Constraint = "day"
	ConstraintBlocked Constraint = "blocked"
	// ConstraintLine: the windows have room, but no more than the runs
	// ahead in the app's line need (see Waiter).
	ConstraintLine Constraint = "line"
)

// ErrNoRoom matches every *NoRoomError (errors.Is).
var ErrNoRoom = errors.New("quota: no room")

// NoRoomError is Reserve's answer when a window is full or the app is
// blocked: not a failure, the caller waits until OpensAt.
type NoRoomError struct {
	App string
	// OpensAt is when the binding windows have room again, assuming no one
	// else reserves meanwhile: never later than the first instant a
	// reservation can succeed. (With a margin, a fixed window may still be
	// full right after its boundary, from sends in the margin before it;
	// Reserve then answers a later instant.)
	OpensAt time.Time
	// By is the constraint that opens last (the one OpensAt comes from).
	By Constraint
	// HourUsed and DayUsed are the current counts.
	HourUsed, DayUsed int
	// Ahead is, for ConstraintLine, how many waiters are ahead.
	Ahead int
}

func (e *NoRoomError) Error() string {
	if e.By == ConstraintLine {
		return fmt.Sprintf("quota: app %s: %d run(s) ahead in line for its room", e.App, e.Ahead)
	}
	return fmt.Sprintf("quota: app %s: no room (%s) until %s", e.App, e.By, e.OpensAt.UTC().Format(time.RFC3339Nano))
}

// Is makes errors.Is(err, ErrNoRoom) true.
func (e *NoRoomError) Is(target error) bool { return target == ErrNoRoom }

// keys are an app's Redis keys; the hash tag keeps them in one cluster slot.
type keys struct{ entries, marker, blocked, generation, released, line, lineExpiry, lineNeed string }

func (g *Guard) keys(app string) keys {
	base := g.prefix + "{" + app + "}:"
	return keys{entries: base + "entries", marker: base + "initialized", blocked: base + "blocked", generation: base + "generation",
		released: base + "released", line: base + "line", lineExpiry: base + "line_expiry", lineNeed: base + "line_need"}
}

func (g *Guard) policy(app string) (resolved, error) {
	r, ok := g.apps[app]
	if !ok {
		return resolved{}, fmt.Errorf("app %q: %w", app, ErrUnknownApp)
	}
	return r, nil
}

// scriptResult is reserve.lua's answer.
type scriptResult struct {
	state               string
	hourUsed, dayUsed   int
	hourOpens, dayOpens int64 // Unix ms; 0: room
	blockedUntil        int64 // Unix ms; 0: not blocked
	// line is, when "queued", how many waiters are ahead.
	line int
}

// runReserve runs reserve.lua in mode "reserve" or "peek" at now, for w
// (the zero Waiter: outside the line).
func (g *Guard) runReserve(ctx context.Context, mode, app string, r resolved, now time.Time, id string, w Waiter) (scriptResult, error) {
	k := g.keys(app)
	hour, day := r.hourWindow(now, g.margin), r.dayWindow(now, g.margin)
	hourNext, dayNext := r.nextHourWindow(hour, g.margin), r.nextDayWindow(day, g.margin)
	args := []any{
		mode, now.UnixMilli(), id, g.keep.Milliseconds(), g.keepMarker.Milliseconds(), g.keepFrom(now).UnixMilli(),
		hour.limit, hour.zcountMin(), hour.hold.Milliseconds(), unixMilliOrZero(hour.reset),
		hourNext.zcountMin(), unixMilliOrZero(hourNext.reset),
		day.limit, day.zcountMin(), day.hold.Milliseconds(), unixMilliOrZero(day.reset),
		dayNext.zcountMin(), unixMilliOrZero(dayNext.reset),
		score(now),
		w.ID, w.Due.UnixMilli(), g.realNow().UnixMilli(), LineHold.Milliseconds(), max(w.Need, 1),
	}
	raw, err := reserveScript.Run(ctx, g.client, []string{k.entries, k.marker, k.blocked, k.line, k.lineExpiry, k.lineNeed}, args...).Slice()
	if err != nil {
		return scriptResult{}, fmt.Errorf("quota: app %s: reserve script: %w", app, err)
	}
	return parseResult(raw)
}

func parseResult(raw []any) (scriptResult, error) {
	if len(raw) != 7 {
		return scriptResult{}, fmt.Errorf("quota: reserve script: %d values, want 7", len(raw))
	}
	state, ok := raw[0].(string)
	if !ok {
		return scriptResult{}, fmt.Errorf("quota: reserve script: state %T, want string", raw[0])
	}
	var n [6]int64
	for i := range n {
		v, ok := raw[i+1].(int64)
		if !ok {
			return scriptResult{}, fmt.Errorf("quota: reserve script: value %d is %T, want integer", i+1, raw[i+1])
		}
		n[i] = v
	}
	return scriptResult{state: state, hourUsed: int(n[0]), hourOpens: n[1], dayUsed: int(n[2]), dayOpens: n[3], blockedUntil: n[4], line: int(n[5])}, nil
}

func unixMilliOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// score is the ZSET score of a slot taken at t: Unix milliseconds, rounded
// up. Windows count an entry while its score is after their (whole
// millisecond) bound, so a slot taken at .0005 holds its place in a rolling
// window until .001 + hold: up to 1 ms late, never early. (Rounded down, it
// left up to 1 ms before its hold ended.) At whole milliseconds, as in the
// tests' simulated clocks, scores are exact.
func score(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// MaxUseBy is the longest a reservation's UseBy may be after its instant.
// The margin must cover the whole way from the reservation to the service:
// up to UseBy, the checks after it, then the call (cmd/tagcast's margin
// allows 5 s before the call, plus the app's timeout).
const MaxUseBy = 4 * time.Second

// keepFrom is the oldest reservation instant the guard keeps in Redis
// (older entries are trimmed) and reads back from the ledger in a rebuild.
// It reaches as far back as any policy's windows can, not only the current
// one's: what Redis holds outlives the process, and an operator who changes
// an app's time zone, day or hour mode, or timeout (the margin) restarts
// onto entries trimmed, or seeded, under the old policy. Trimmed at the old
// windows' edge, a send the new windows still count was gone, and the guard
// granted a push the service refuses (a fourth in its day).
func (g *Guard) keepFrom(now time.Time) time.Time {
	return now.Add(-g.keep)
}

// staleAfter is how late after its instant a reservation may be granted,
// and how long it may then wait for its push: half the margin, at least a
// second and at most MaxUseBy. (Half the margin alone, 7.5 s with a 10 s
// app timeout, let a push begin too late for the margin to cover its call.)
func (g *Guard) staleAfter() time.Duration { return min(max(g.margin/2, time.Second), MaxUseBy) }

// newID returns a random reservation id.
func newID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("quota: reservation id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// LineHold is how long, in real time, a waiter's place in an app's line
// outlives the moment it said it would ask again: a waiter that died (a
// killed worker) or gave up holds the room it was due at most this long.
const LineHold = 5 * time.Second

// Waiter is a caller waiting its turn for an app's slots: a run. Runs of
// one app waiting for the same opening are served in the order of their
// Due instants (ties by ID's bytes), not in whatever order they happen to
// ask: with two pushes an hour, a run due at 09:00:05 must not lose the
// day's last slot, and its deliver_by, to one due a second later that asked
// first.
//
// A refused Waiter keeps a place in the app's line; while it lives, no
// later waiter takes the room it is due. Places lapse in real time, on
// Redis's own count of the guard's RealNow clock: LineHold after a refusal
// (a waiter that snoozes for long leaves the line meanwhile, and takes its
// place again when it asks), or after the time Queue was told. A place is
// a courtesy, never a slot: lost with Redis, lapsed, or never taken, it
// costs order, never a push.
type Waiter struct {
	// ID names the waiter (a run: the worker uses its zero-padded id, so
	// that ties go by run id).
	ID string
	// Due orders the line (a run's scheduled instant).
	Due time.Time
	// Need is how many slots the waiter needs (a run's sends due now; 0
	// counts as 1): the waiters behind it wait until it has had them all.
	// A waiter granted one slot of several keeps its place, needing one
	// less.
	Need int
}

// Reserve takes a slot in both of app's windows, or returns a *NoRoomError
// with the instant the next slot opens. When Redis has lost the app's state,
// the windows are rebuilt from the ledger first. Reserve serves a caller
// outside the line (`push send`'s): it takes room that waiting runs are due
// if it is there; ReserveFor waits its turn.
func (g *Guard) Reserve(ctx context.Context, app string) (Reservation, error) {
	return g.ReserveFor(ctx, app, Waiter{})
}

// ReserveFor is Reserve for a waiter in app's line (a zero Waiter is none):
// it takes a slot only while the windows have more room than the live
// places ahead of w need, and otherwise keeps w's place and answers a
// *NoRoomError: By ConstraintLine and OpensAt now when the room is there
// but taken by the line (ask again shortly: the waiters ahead take it, or
// their places lapse), the windows' opening otherwise.
func (g *Guard) ReserveFor(ctx context.Context, app string, w Waiter) (Reservation, error) {
	r, err := g.policy(app)
	if err != nil {
		return Reservation{}, err
	}
	id, err := newID()
	if err != nil {
		return Reservation{}, err
	}
	for attempt := 0; ; attempt++ {
		// The store keeps instants to the microsecond: a reservation's is
		// one already, so the ledger's sent_at is its instant exactly and a
		// rebuild scores it as the live entry was scored. (Rounded down,
		// it is never after the clock that judged the run due.)
		now := g.now().Truncate(time.Microsecond)
		res, err := g.runReserve(ctx, "reserve", app, r, now, id, w)
		if err != nil {
			// The script may have run with its reply lost (a read timeout, a
			// cancelled context): nobody else knows the id, so give the slot
			// back now or it stays taken for the whole window.
			g.forget(ctx, app, id)
			return Reservation{}, err
		}
		switch res.state {
		case "reserved":
			if late := g.now().Sub(now); late > g.staleAfter() {
				// The slot is stamped when now was read. Granted this much
				// later (a paused process, a slow Redis, a clock moved
				// meanwhile), it may count in a window that has moved on
				// while its push lands in the current one: give it back and
				// reserve at the current instant.
				g.forget(ctx, app, id)
				if attempt >= maxRebuilds {
					return Reservation{}, fmt.Errorf("quota: app %s: reservations granted %s after their instant, %d times", app, late, attempt+1)
				}
				g.log.Warn().Str("app", app).Dur("late", late).Msg("quota: reservation granted late: reserving again")
				continue
			}
			g.log.Debug().Str("app", app).Str("reservation", id).Int("hour_used", res.hourUsed).Int("day_used", res.dayUsed).Msg("quota reserved")
			return Reservation{App: app, ID: id, At: now, UseBy: now.Add(g.staleAfter()), HourUsed: res.hourUsed, DayUsed: res.dayUsed,
				HourLimit: r.hourWindow(now, g.margin).limit, DayLimit: r.dayWindow(now, g.margin).limit}, nil
		case "full":
			e := noRoom(app, res)
			g.log.Debug().Str("app", app).Str("by", string(e.By)).Time("opens_at", e.OpensAt).Msg("quota full")
			return Reservation{}, e
		case "queued":
			g.log.Debug().Str("app", app).Str("waiter", w.ID).Int("ahead", res.line).Msg("quota: room taken by the line")
			return Reservation{}, &NoRoomError{App: app, OpensAt: now, By: ConstraintLine, HourUsed: res.hourUsed, DayUsed: res.dayUsed, Ahead: res.line}
		case "rebuild":
			if attempt >= maxRebuilds {
				return Reservation{}, fmt.Errorf("quota: app %s: state lost again after %d rebuilds", app, attempt)
			}
			if err := g.rebuild(ctx, app, r, now); err != nil {
				return Reservation{}, err
			}
		default:
			return Reservation{}, fmt.Errorf("quota: app %s: reserve script: unexpected state %q", app, res.state)
		}
	}
}

// Queue keeps w's place in app's line for d of real time more, plus
// LineHold: a waiter that will ask again within d (one waiting inline for
// its opening) says so, and keeps the room it is due meanwhile.
func (g *Guard) Queue(ctx context.Context, app string, w Waiter, d time.Duration) error {
	if w.ID == "" {
		return fmt.Errorf("quota: app %s: queue: empty waiter id", app)
	}
	k := g.keys(app)
	rnow := g.realNow()
	err := queueScript.Run(ctx, g.client, []string{k.line, k.lineExpiry, k.lineNeed},
		w.ID, "keep", w.Due.UnixMilli(), max(w.Need, 1), rnow.UnixMilli(), rnow.Add(max(d, 0)+LineHold).UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("quota: app %s: keep the place of %s: %w", app, w.ID, err)
	}
	return nil
}

// Unqueue gives up waiter id's place in app's line (a run settled, or gone
// for long): the room it was due goes to the next at once, not after its
// place lapses.
func (g *Guard) Unqueue(ctx context.Context, app, id string) error {
	k := g.keys(app)
	if err := queueScript.Run(ctx, g.client, []string{k.line, k.lineExpiry, k.lineNeed}, id, "leave").Err(); err != nil {
		return fmt.Errorf("quota: app %s: leave the line (%s): %w", app, id, err)
	}
	return nil
}

// forgetTimeout bounds forget's clean-up call.
const forgetTimeout = 5 * time.Second

// forget removes reservation id of app if it was recorded (best effort, on
// a context detached from ctx's cancellation).
func (g *Guard) forget(ctx context.Context, app, id string) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), forgetTimeout)
	defer cancel()
	if err := g.Release(fctx, Reservation{App: app, ID: id}); err != nil {
		g.log.Warn().Err(err).Str("app", app).Str("reservation", id).Msg("quota: could not drop a reservation whose reply was lost")
	}
}

// noRoom builds the error for a "full" answer: the latest of the binding
// constraints is when every one of them has room.
func noRoom(app string, res scriptResult) *NoRoomError {
	e := &NoRoomError{App: app, HourUsed: res.hourUsed, DayUsed: res.dayUsed}
	var opens int64
	for _, c := range []struct {
		at int64
		by Constraint
	}{{res.hourOpens, ConstraintHour}, {res.dayOpens, ConstraintDay}, {res.blockedUntil, ConstraintBlocked}} {
		if c.at > opens {
			opens, e.By = c.at, c.by
		}
	}
	e.OpensAt = time.UnixMilli(opens)
	return e
}

// rebuild seeds app's windows from the ledger unless another process did it
// first.
func (g *Guard) rebuild(ctx context.Context, app string, r resolved, now time.Time) error {
	k := g.keys(app)
	// The generation first: a read of the ledger that stalls past another
	// loss of Redis's state (after another process rebuilt, reserved and
	// sent) must not seed the windows it read into the new state.
	gen, err := newID()
	if err != nil {
		return err
	}
	genReply, err := genScript.Run(ctx, g.client, []string{k.generation}, gen, g.keepMarker.Milliseconds()).StringSlice()
	if err == nil && len(genReply) != 2 {
		err = fmt.Errorf("%d values, want 2", len(genReply))
	}
	if err != nil {
		return fmt.Errorf("quota: app %s: rebuild generation: %w", app, err)
	}
	from := g.keepFrom(now)
	// With no upper bound, as the live windows count: sends stamped ahead
	// of this clock (another process's clock ran ahead, or this one was
	// stepped back) count as they did before the loss.
	to := ledgerHorizon
	var attempts []Attempt
	if al, ok := g.ledger.(AttemptLedger); ok {
		attempts, err = al.AttemptsBetween(ctx, app, from, to)
	} else {
		var sent []time.Time
		sent, err = g.ledger.SentBetween(ctx, app, from, to)
		for _, t := range sent {
			attempts = append(attempts, Attempt{At: t})
		}
	}
	if err != nil {
		return fmt.Errorf("quota: app %s: rebuild from ledger [%s, %s): %w", app, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), err)
	}
	// A recorded block goes back before the windows are seeded: from the
	// seed on, a reservation finds the windows, and must find the block too.
	// The store's block replaces the one in Redis, which may be older than
	// an operator's Unblock (a Redis restarted from a snapshot taken while
	// the block held): see syncblock.lua, and the key's value read before
	// the store's for it.
	if bs, ok := g.ledger.(BlockStore); ok {
		before, err := g.client.Get(ctx, k.blocked).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("quota: app %s: rebuild: read the block: %w", app, err)
		}
		until, err := bs.BlockedUntil(ctx, app)
		if err != nil {
			return fmt.Errorf("quota: app %s: rebuild: %w", app, err)
		}
		var stored int64
		if until.After(now) {
			stored = score(until)
		}
		ttl := until.Sub(now) + g.margin + time.Minute
		if err := syncBlockScript.Run(ctx, g.client, []string{k.blocked}, before, stored, max(ttl, time.Minute).Milliseconds()).Err(); err != nil {
			return fmt.Errorf("quota: app %s: rebuild: set the block: %w", app, err)
		}
	}
	args := make([]any, 0, 4+2*len(attempts))
	args = append(args, g.keep.Milliseconds(), g.keepMarker.Milliseconds(), genReply[0], genReply[1])
	for i, a := range attempts {
		member := "ledger:" + strconv.Itoa(i) + ":" + strconv.FormatInt(a.At.UnixNano(), 10)
		switch {
		case a.Send != 0:
			member = claimMember(a.Send, a.Claim) // one per claim: the store's (send_id, claim) is unique
		case a.Entry != 0:
			member = directMember(a.Entry, a.At)
		}
		args = append(args, score(a.At), member)
	}
	seeded, err := seedScript.Run(ctx, g.client, []string{k.entries, k.marker, k.generation, k.released}, args...).Int()
	if err != nil {
		return fmt.Errorf("quota: app %s: seed script: %w", app, err)
	}
	switch seeded {
	case -1:
		// The caller finds the windows still uninitialized and rebuilds
		// again, on a fresh read.
		g.log.Warn().Str("app", app).Msg("quota: Redis lost its state again during the rebuild: not seeded")
	case 1:
		g.log.Info().Str("app", app).Int("sends", len(attempts)).Time("from", from).Msg("quota windows rebuilt from the ledger")
	}
	return nil
}

// Forget drops every app's windows marker and rebuild generation, so that
// each app's next reservation rebuilds its windows from the ledger. A
// caller that knows the ledger may hold pushes this Redis never saw (a
// process on another guard sent for the store) calls it, with other
// processes reserving or not: the rebuild is what a flush would cause, and
// as safe. The generation goes too, as a flush takes it: a rebuild that
// read the ledger before the Forget (before a push another process
// reserved and sent) must not seed its stale read afterwards, over that
// push's slot. (Forget kept it, until every shared start called Forget
// and a review found the stale seed granting a push over the quota.)
func (g *Guard) Forget(ctx context.Context) error {
	for app := range g.apps {
		// One app at a time: on a cluster the apps' keys lie in different
		// slots (an app's share one, its name being their hash tag). The
		// generation with the marker, in one command: a seed in between
		// would find the marker gone and its generation still current.
		k := g.keys(app)
		if err := g.client.Del(ctx, k.generation, k.marker).Err(); err != nil {
			return fmt.Errorf("quota: app %s: forget the windows: %w", app, err)
		}
	}
	g.log.Info().Int("apps", len(g.apps)).Msg("quota windows forgotten: each app rebuilds from the ledger at its next reservation")
	return nil
}

// Release gives back a reservation whose send the service definitively
// refused without sending (401 class, 400 class, 1009), or that was never
// called. Releasing twice is harmless.
//
// A claimed reservation (Claimed, Direct) gives back its claim's slot too,
// as a rebuild from an AttemptLedger seeded it, and its claim is
// remembered (release.lua) so that a rebuild that read the ledger before
// the claim's row was deleted does not seed it afterwards. An unclaimed
// one, after a rebuild, frees nothing: the rebuild counted its attempt
// under a name of its own, and an entry of the same instant may be another
// attempt's (a clock standing still gives many), so the slot stays counted
// until it leaves its window: a slot lost, never one given twice.
func (g *Guard) Release(ctx context.Context, res Reservation) error {
	if res.ID == "" {
		return fmt.Errorf("quota: app %s: release: empty reservation id", res.App)
	}
	k := g.keys(res.App)
	now := g.now()
	n, err := releaseScript.Run(ctx, g.client, []string{k.entries, k.released},
		now.UnixMilli(), g.keep.Milliseconds(), res.ID, res.claim, g.keepFrom(now).UnixMilli()).Int()
	if err != nil {
		return fmt.Errorf("quota: app %s: release reservation %s: %w", res.App, res.ID, err)
	}
	g.log.Debug().Str("app", res.App).Str("reservation", res.ID).Str("claim", res.claim).Int("found", n).Msg("quota released")
	return nil
}

// Held reports whether res still holds its slot: false once Redis has lost
// it (flushed, restarted empty or from an older snapshot, failed over) or a
// rebuild has written the windows over it.
//
// Between a reservation and the store's record of its attempt (the claim)
// the slot lives only in Redis, and a rebuild in that moment reads a ledger
// without it: another worker could then take the same last slot. A caller
// that checks Held after its claim has committed and before its call closes
// that gap. Held is true only while the entry is there and the windows are
// this Redis run's (the marker, as in reserve.lua): then no rebuild is due
// or under way (a rebuild reads the ledger first and seeds after, so a
// rebuild in progress leaves the entry in place but the marker missing or
// another run's), and any later rebuild reads a ledger that already holds
// the claim. Otherwise the caller gives the claim and the slot back and
// reserves again.
//
// Held is also false once the guard's clock, read after the check, is past
// res.UseBy: the caller's push would begin later than the margin allows (a
// slow claim, a slow Redis answering this very check), and could reach the
// service after the guard has reopened the slot.
func (g *Guard) Held(ctx context.Context, res Reservation) (bool, error) {
	if res.ID == "" {
		return false, fmt.Errorf("quota: app %s: held: empty reservation id", res.App)
	}
	k := g.keys(res.App)
	n, err := heldScript.Run(ctx, g.client, []string{k.entries, k.marker}, res.ID, res.claim).Int()
	if err != nil {
		return false, fmt.Errorf("quota: app %s: check reservation %s: %w", res.App, res.ID, err)
	}
	if !res.UseBy.IsZero() && g.now().After(res.UseBy) {
		g.log.Warn().Str("app", res.App).Time("use_by", res.UseBy).Msg("quota: reservation too old to be used: given back")
		return false, nil
	}
	return n == 1, nil
}

// Block keeps app from reserving until until (a longer block in force is
// kept). Used after the service answered 429/1008.
func (g *Guard) Block(ctx context.Context, app string, until time.Time) error {
	_, err := g.block(ctx, app, until)
	return err
}

// block is Block, returning the end of the block in force afterwards: until
// (at or after it, in whole milliseconds), or a longer block already in
// force in Redis or recorded in the store. On a failure to block in Redis
// it returns until.
func (g *Guard) block(ctx context.Context, app string, until time.Time) (time.Time, error) {
	if _, err := g.policy(app); err != nil {
		return until, err
	}
	now := g.now()
	if !until.After(now) {
		return until, nil
	}
	// The store first (a block Redis holds and the store does not is
	// dropped by the next rebuild: syncblock.lua), and Redis whatever the
	// store said: the block in force there is what keeps the next
	// reservation out.
	var stored error
	var recorded time.Time
	if bs, ok := g.ledger.(BlockStore); ok {
		var err error
		if recorded, err = bs.SaveBlock(ctx, app, until, now); err != nil {
			stored = fmt.Errorf("quota: app %s: record the block until %s: %w", app, until.UTC().Format(time.RFC3339), err)
		}
	}
	in, err := g.setBlock(ctx, app, until, now)
	if err != nil {
		return until, errors.Join(err, stored)
	}
	// The later of Redis's block and the store's: a longer one the store
	// records and this Redis lost (a flush) comes back with the rebuild.
	inForce := time.UnixMilli(max(in, score(recorded)))
	g.log.Info().Str("app", app).Time("until", inForce).Msg("quota blocked")
	return inForce, stored
}

// setBlock blocks app in Redis until until (never shortening a longer
// block) and returns the block in force, Unix ms. The end is kept in whole
// milliseconds rounded up, as slots' scores are: a block never ends before
// its instant.
func (g *Guard) setBlock(ctx context.Context, app string, until, now time.Time) (int64, error) {
	ttl := until.Sub(now) + g.margin + time.Minute
	in, err := blockScript.Run(ctx, g.client, []string{g.keys(app).blocked}, score(until), ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("quota: app %s: block until %s: %w", app, until.UTC().Format(time.RFC3339), err)
	}
	return in, nil
}

// NextBoundary is the next window boundary of app after the Guard's now (see
// Policy.NextBoundary).
func (g *Guard) NextBoundary(app string) (time.Time, error) {
	r, err := g.policy(app)
	if err != nil {
		return time.Time{}, err
	}
	return r.nextBoundary(g.now()), nil
}

// unblockMark is how long Unblock's mark (unblock.lua) outlives the lift:
// longer than any rebuild's read of the store.
const unblockMark = 10 * time.Minute

// maxRetryAfter caps a service's Retry-After in BlockRateLimited.
const maxRetryAfter = 25 * time.Hour

// BlockClearer is a BlockStore that can also forget an app's block
// (*sqlstore.Store is one).
type BlockClearer interface {
	// ClearBlock forgets app's recorded block and returns its end (zero
	// if none was recorded). The app's sends waiting in retry_wait (a
	// 5xx's Retry-After: they wait on it themselves) may go at now,
	// whether or not the store had recorded the block.
	ClearBlock(ctx context.Context, app string, now time.Time) (time.Time, error)
}

// Unblock lifts app's block, whatever set it (a 429/1008, a 5xx's
// Retry-After): the store's record first, so a rebuild cannot bring it back,
// then Redis. An operator's act, for a block the service no longer means (a
// proxy's Retry-After of a day, say); if the service still refuses, its next
// answer blocks the app again.
//
// It returns the end of the block it lifted: the later of the store's and
// Redis's, each read as it is deleted, so a block set by another process
// just before is named, not lifted in silence. Zero: the app was not
// blocked (a block already over is no block).
func (g *Guard) Unblock(ctx context.Context, app string) (time.Time, error) {
	if _, err := g.policy(app); err != nil {
		return time.Time{}, err
	}
	var lifted time.Time
	if bc, ok := g.ledger.(BlockClearer); ok {
		stored, err := bc.ClearBlock(ctx, app, g.now())
		if err != nil {
			return time.Time{}, fmt.Errorf("quota: app %s: clear the recorded block: %w", app, err)
		}
		lifted = stored
	}
	ms, err := unblockScript.Run(ctx, g.client, []string{g.keys(app).blocked}, g.now().UnixMilli(), unblockMark.Milliseconds()).Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("quota: app %s: clear the block: %w", app, err)
	}
	if ms > 0 {
		if t := time.UnixMilli(ms); t.After(lifted) {
			lifted = t
		}
	}
	if !lifted.After(g.now()) {
		g.log.Info().Str("app", app).Msg("quota unblock: the app was not blocked")
		return time.Time{}, nil
	}
	g.log.Warn().Str("app", app).Time("until", lifted).Msg("quota block lifted by an operator")
	return lifted, nil
}

// HoldFor blocks app for d from now, at most maxRetryAfter: the service
// asked every caller to wait that long (a Retry-After on a 5xx, 1000 or
// 1050: an announced outage). It returns the instant the block ends.
func (g *Guard) HoldFor(ctx context.Context, app string, d time.Duration) (time.Time, error) {
	return g.block(ctx, app, g.now().Add(min(d, maxRetryAfter)))
}

// BlockRateLimited blocks app after a 429/1008: until the next window
// boundary, or later when the service asked for a longer wait (Retry-After).
// It returns the instant the block ends.
func (g *Guard) BlockRateLimited(ctx context.Context, app string, retryAfter time.Duration) (time.Time, error) {
	r, err := g.policy(app)
	if err != nil {
		return time.Time{}, err
	}
	now := g.now()
	until := r.nextBoundary(now)
	// A Retry-After beyond a day says more about the server's clock than
	// about the quota, whose longest window is a day: never block longer.
	retryAfter = min(retryAfter, maxRetryAfter)
	if t := now.Add(retryAfter); t.After(until) {
		until = t
	}
	return g.block(ctx, app, until)
}

// WindowStatus is one window of an app at an instant.
type WindowStatus struct {
	Mode      string `json:"mode"`
	Limit     int    `json:"limit"`
	Used      int    `json:"used"`
	Remaining int    `json:"remaining"`
	// Start is where the window begins (rolling: now minus its length).
	Start time.Time `json:"start"`
	// Reset is when a fixed window starts afresh (zero for rolling).
	Reset time.Time `json:"reset,omitzero"`
	// NextOpening is when this window has room: now if it has room.
	NextOpening time.Time `json:"next_opening"`
}

// Status is an app's quota at an instant.
type Status struct {
	App      string       `json:"app"`
	At       time.Time    `json:"at"`
	Timezone string       `json:"timezone"`
	Hour     WindowStatus `json:"hour"`
	Day      WindowStatus `json:"day"`
	// BlockedUntil is set while a block is in force: the service answered
	// 429/1008, or asked for a wait (a 5xx's Retry-After).
	BlockedUntil time.Time `json:"blocked_until,omitzero"`
	// NextOpening is when a Reserve can succeed: At if it can now.
	NextOpening time.Time `json:"next_opening"`
	// Rebuilt reports that Redis had no state for the app and this call
	// rebuilt it from the ledger.
	Rebuilt bool `json:"rebuilt"`
}

// Status reports app's windows without reserving anything (rebuilding them
// from the ledger first when Redis lost them).
func (g *Guard) Status(ctx context.Context, app string) (Status, error) {
	r, err := g.policy(app)
	if err != nil {
		return Status{}, err
	}
	now := g.now()
	rebuilt := false
	var res scriptResult
	for attempt := 0; ; attempt++ {
		if res, err = g.runReserve(ctx, "peek", app, r, now, "", Waiter{}); err != nil {
			return Status{}, err
		}
		if res.state != "uninitialized" {
			break
		}
		// Empty windows are no answer: a rebuild that seeded nothing (the
		// state lost again during its read) is done again, as Reserve does.
		if attempt >= maxRebuilds {
			return Status{}, fmt.Errorf("quota: app %s: state lost again after %d rebuilds", app, attempt)
		}
		if err := g.rebuild(ctx, app, r, now); err != nil {
			return Status{}, err
		}
		rebuilt = true
	}
	windowStatus := func(mode string, w window, used int, opens int64) WindowStatus {
		s := WindowStatus{Mode: mode, Limit: w.limit, Used: used, Remaining: max(w.limit-used, 0), Start: w.start, Reset: w.reset, NextOpening: now}
		if opens > 0 {
			s.NextOpening = time.UnixMilli(opens)
		}
		return s
	}
	st := Status{
		App: app, At: now, Timezone: r.Timezone, Rebuilt: rebuilt,
		Hour: windowStatus(string(r.HourWindow), r.hourWindow(now, g.margin), res.hourUsed, res.hourOpens),
		Day:  windowStatus(string(r.DayWindow), r.dayWindow(now, g.margin), res.dayUsed, res.dayOpens),
	}
	st.NextOpening = now
	if res.blockedUntil > 0 {
		st.BlockedUntil = time.UnixMilli(res.blockedUntil)
	}
	for _, t := range []time.Time{st.Hour.NextOpening, st.Day.NextOpening, st.BlockedUntil} {
		if t.After(st.NextOpening) {
			st.NextOpening = t
		}
	}
	return st, nil
}
