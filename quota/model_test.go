package quota

// A model-based randomized property test of the Guard against an
// independent reference model of the windows, directed probes of the
// boundaries, and the defects a review of the guard found with them (each
// test fails without its fix). make test runs 10 seeds; more with
// QUOTA_MODEL_SEEDS=<n>. Replay a failing seed with
//
//	QUOTA_MODEL_SEED=<seed> go test -count=1 -run TestGuardAgreesWithTheModel ./quota/
//
// The model names claims as the store does (send and claim; an attempt of
// no send is anonymous), and knows which guards read the store as an
// AttemptLedger and which as a plain Ledger: it predicts which member each
// rebuild seeds, what Held finds under a reservation's id or its claim, and
// what a Release frees, including a late give-back (the store's row deleted
// before or after the Release, rebuilds in between) and a Release while a
// rebuild stands between its ledger read and its seed (the released set:
// release.lua, seed.lua).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/internal/testenv"
)

// ---------------------------------------------------------------------------
// Reference model

// rmSend is one attempt in the store's ledger.
type rmSend struct {
	at    time.Time
	resID string // the reservation it was claimed with
	// send and claim name the attempt; 0, 0 for an attempt of no send
	// (`push send`'s), which the store names to no one.
	send, claim int64
	// givenBack: the reservation was released before the store deleted
	// the row (a late give-back in that order). The attempt is never
	// pushed; the row is still read until the store deletes it.
	givenBack bool
}

// rmEntry is one slot the guard is expected to count.
type rmEntry struct {
	at time.Time
	// holder is whose slot it is: a reservation id; a claim's key (rmClaim)
	// for a named attempt a rebuild from an AttemptLedger seeded; "" for an
	// attempt a rebuild seeded anonymously, which no Release frees.
	holder string
}

// rmClaim is the model's own key of a claim (not the guard's member name:
// the model only needs claims told apart).
func rmClaim(send, claim int64) string { return fmt.Sprintf("send %d claim %d", send, claim) }

// rmRes is a reservation as the model's worker holds it: claimed on send
// and claim (0, 0: an attempt of no send, the reservation not Claimed).
type rmRes struct {
	res         Reservation
	send, claim int64
	step        int // the step that reserved it
}

func (r rmRes) claimKey() string {
	if r.send == 0 {
		return ""
	}
	return rmClaim(r.send, r.claim)
}

// holds reports whether e is r's slot, under its id or its claim.
func (r rmRes) holds(e rmEntry) bool {
	return e.holder == r.res.ID || (r.send != 0 && e.holder == r.claimKey())
}

func (r rmRes) String() string {
	s := fmt.Sprintf("res %s (step %d)", r.res.ID[:6], r.step)
	if r.send != 0 {
		s += fmt.Sprintf(" of send %d claim %d", r.send, r.claim)
	}
	return s
}

// rmApp is the reference model of one app.
type rmApp struct {
	p       Policy // defaults filled
	loc     *time.Location
	margin  time.Duration
	entries []rmEntry
	ledger  []rmSend
	blocked time.Time // the block in force (store and Redis agree)
	lost    bool      // Redis lost the windows: the next reserve / status rebuilds
	// released holds the claims given back with Release that the guard's
	// released set still remembers (FLUSHALL and a restart empty it): a
	// seed never counts them.
	released map[string]bool
	// live: claimed, the row in the ledger, neither pushed nor given back.
	live []rmRes
	// unreleased: given back in the store (row deleted), not yet Released.
	unreleased []rmRes
	// returned: sends whose claim was given back; a later claim of one of
	// them is the send's next claim.
	returned []rmRes
	// recent: the last reservations, for Held.
	recent []rmRes
}

// localDate is t's calendar date in loc, as one comparable number.
func (m *rmApp) localDate(t time.Time) int {
	y, mo, d := t.In(m.loc).Date()
	return y*10000 + int(mo)*100 + d
}

// dayBounds finds, by binary search over whole seconds (zone transitions
// and local midnights fall on whole seconds), the first instant of t's
// local date and the first instant of the next one. Independent of
// calendar.Day.
func (m *rmApp) dayBounds(t time.Time) (start, next time.Time) {
	d := m.localDate(t)
	sec := t.Unix()
	lo, hi := sec-27*3600, sec // date(lo) < d, date(hi) == d
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if m.localDate(time.Unix(mid, 0)) < d {
			lo = mid
		} else {
			hi = mid
		}
	}
	start = time.Unix(hi, 0)
	lo, hi = sec, sec+27*3600 // date(lo) == d, date(hi) > d
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if m.localDate(time.Unix(mid, 0)) == d {
			lo = mid
		} else {
			hi = mid
		}
	}
	return start, time.Unix(hi, 0)
}

// hourStart is the start of the clock hour the wall clock shows at t.
func (m *rmApp) hourStart(t time.Time) time.Time {
	_, off := t.In(m.loc).Zone()
	ns := t.UnixNano() + int64(off)*1e9
	into := ns % int64(time.Hour)
	if into < 0 {
		into += int64(time.Hour)
	}
	return t.Add(-time.Duration(into))
}

// inWindows reports whether a slot at at counts in the hour and the day
// window at t (with the guard's margin, as documented in policy.go);
// dayStart is t's local day start (dayBounds).
func (m *rmApp) inWindows(at, t, dayStart time.Time) (hour, day bool) {
	if m.p.HourWindow == HourClock {
		hour = !at.Before(m.hourStart(t).Add(-m.margin))
	} else {
		hour = at.After(t.Add(-time.Hour - m.margin))
	}
	if m.p.DayWindow == DayCalendar {
		day = !at.Before(dayStart.Add(-m.margin))
	} else {
		day = at.After(t.Add(-24*time.Hour - m.margin))
	}
	return hour, day
}

// counts is how many expected slots count in each window at t.
func (m *rmApp) counts(t time.Time) (hour, day int) {
	start, _ := m.dayBounds(t)
	for _, e := range m.entries {
		h, d := m.inWindows(e.at, t, start)
		if h {
			hour++
		}
		if d {
			day++
		}
	}
	return hour, day
}

// counted reports whether the slot at at counts in either window at t. A
// counted slot is certainly in Redis (if the model has it): every earlier
// trim and every earlier rebuild's ledger read began at or before the
// earliest instant either window counts from now. An uncounted one may
// have been trimmed or never read.
func (m *rmApp) counted(at, t time.Time) bool {
	start, _ := m.dayBounds(t)
	h, d := m.inWindows(at, t, start)
	return h || d
}

func (m *rmApp) feasible(t time.Time) bool {
	if m.blocked.After(t) {
		return false
	}
	h, d := m.counts(t)
	return h < m.p.Hourly && d < m.p.Daily
}

// boundaries are the instants after t (up to horizon) where a fixed window
// may start afresh: clock hour starts, zone transitions, local day starts.
func (m *rmApp) boundaries(t, horizon time.Time) []time.Time {
	var out []time.Time
	for c := t; c.Before(horizon); {
		n := m.hourStart(c).Add(time.Hour)
		if _, end := c.In(m.loc).ZoneBounds(); !end.IsZero() && end.After(c) && end.Before(n) {
			n = end
		}
		out = append(out, n)
		c = n
	}
	for c := t; c.Before(horizon); {
		_, n := m.dayBounds(c)
		out = append(out, n)
		c = n
	}
	return out
}

// earliest is the first instant at or after t at which the model allows a
// reservation: feasibility only changes at the candidates.
func (m *rmApp) earliest(t time.Time) time.Time {
	horizon := t.Add(60 * time.Hour)
	if m.blocked.After(t) {
		horizon = m.blocked.Add(60 * time.Hour)
	}
	cands := []time.Time{t, m.blocked}
	for _, e := range m.entries {
		cands = append(cands, e.at.Add(time.Hour+m.margin), e.at.Add(24*time.Hour+m.margin))
	}
	cands = append(cands, m.boundaries(t, horizon)...)
	slices.SortFunc(cands, func(a, b time.Time) int { return a.Compare(b) })
	for _, c := range cands {
		if !c.Before(t) && m.feasible(c) {
			return c
		}
	}
	return time.Time{}
}

// nextBoundary is the documented block end after a 429: the next clock hour
// (or +1h rolling), or the next local day start (or +24h rolling),
// whichever comes first.
func (m *rmApp) nextBoundary(t time.Time) time.Time {
	hour := t.Add(time.Hour)
	if m.p.HourWindow == HourClock {
		hour = m.hourStart(t).Add(time.Hour)
	}
	day := t.Add(24 * time.Hour)
	if m.p.DayWindow == DayCalendar {
		_, day = m.dayBounds(t)
	}
	if day.Before(hour) {
		return day
	}
	return hour
}

// rebuild is what a guard's rebuild must seed from the ledger rows it read:
// every attempt; a named one (send != 0) under its claim when the guard
// reads an AttemptLedger (named), anonymously otherwise. A claim the
// released set remembers is not seeded (the store's row was read before
// its give-back reached the store, or the row is deleted only after the
// Release). It returns how many rows were skipped so.
func (m *rmApp) rebuild(rows []rmSend, named bool) (skipped int) {
	m.entries = m.entries[:0]
	for _, s := range rows {
		e := rmEntry{at: s.at}
		if named && s.send != 0 {
			e.holder = rmClaim(s.send, s.claim)
			if m.released[e.holder] {
				skipped++
				continue
			}
		}
		m.entries = append(m.entries, e)
	}
	m.lost = false
	return skipped
}

// release is what Release(r.res) must do: the slot under r's id goes, and
// for a claimed reservation the slot under its claim too, and the claim is
// remembered. It returns how many slots went under each name.
func (m *rmApp) release(r rmRes) (byID, byClaim int) {
	m.entries = slices.DeleteFunc(m.entries, func(e rmEntry) bool {
		switch {
		case e.holder == r.res.ID:
			byID++
		case r.send != 0 && e.holder == r.claimKey():
			byClaim++
		default:
			return false
		}
		return true
	})
	if r.send != 0 {
		m.released[r.claimKey()] = true
	}
	return byID, byClaim
}

// heldWant is the model's Held(res) at now for r (res is r.res, its UseBy
// possibly cleared): sure is false where Redis may or may not still hold
// the slot (only outside every window). via names the holder found.
func (m *rmApp) heldWant(r rmRes, res Reservation, now time.Time) (want, sure bool, via string) {
	if !res.UseBy.IsZero() && now.After(res.UseBy) {
		return false, true, "past UseBy"
	}
	if m.lost {
		return false, true, "windows lost (no marker of this run)"
	}
	found := false
	for _, e := range m.entries {
		if !r.holds(e) {
			continue
		}
		via = "its id"
		if e.holder != r.res.ID {
			via = "its claim"
		}
		if m.counted(e.at, now) {
			return true, true, via
		}
		found = true
	}
	if found {
		return false, false, via + ", outside every window"
	}
	return false, true, "no slot under its id or claim"
}

// holdsSlot reports whether the model has a slot of r's counted at now,
// the marker aside (lost or not).
func (m *rmApp) holdsSlot(r rmRes, now time.Time) bool {
	for _, e := range m.entries {
		if r.holds(e) && m.counted(e.at, now) {
			return true
		}
	}
	return false
}

// serviceCheck verifies the attempts that may be pushed (the ledger but
// for the rows of claims given back) against the service's own counting
// (no margin): no window of the policy holds more than its limit.
func (m *rmApp) serviceCheck() string {
	var pushed []rmSend
	for _, s := range m.ledger {
		if !s.givenBack {
			pushed = append(pushed, s)
		}
	}
	for i, s := range pushed {
		var hour, day int
		hs := m.hourStart(s.at)
		ds, _ := m.dayBounds(s.at)
		for j, o := range pushed {
			if j != i && o.at.After(s.at) {
				continue
			}
			if m.p.HourWindow == HourClock {
				if !o.at.Before(hs) {
					hour++
				}
			} else if o.at.After(s.at.Add(-time.Hour)) {
				hour++
			}
			if m.p.DayWindow == DayCalendar {
				if !o.at.Before(ds) {
					day++
				}
			} else if o.at.After(s.at.Add(-24 * time.Hour)) {
				day++
			}
		}
		if hour > m.p.Hourly || day > m.p.Daily {
			return fmt.Sprintf("send at %s: %d in its hour (limit %d), %d in its day (limit %d)",
				s.at.In(m.loc).Format(time.RFC3339Nano), hour, m.p.Hourly, day, m.p.Daily)
		}
	}
	return ""
}

// ---------------------------------------------------------------------------
// Store fake: ledger (claims given back leave it) and blocks. Seen directly
// it is an AttemptLedger (as *sqlstore.Store); through plainLedger, a Ledger
// that names no attempts.

type modelStore struct {
	mu     sync.Mutex
	sent   map[string][]rmSend
	blocks map[string]time.Time
	pause  *ledgerPause
}

var (
	_ AttemptLedger = (*modelStore)(nil)
	_ BlockStore    = (*modelStore)(nil)
	_ BlockStore    = plainLedger{}
)

// ledgerPause stops the next ledger read of app after the read and before
// its answer: the moment between a rebuild's read and its seed.
type ledgerPause struct {
	app     string
	read    chan struct{} // closed once the read is done
	proceed chan struct{} // the read answers once closed (resume)
	once    sync.Once
}

// resume lets the paused read answer (idempotent).
func (p *ledgerPause) resume() { p.once.Do(func() { close(p.proceed) }) }

// pauseNext arms a pause on the next read of app.
func (s *modelStore) pauseNext(app string) *ledgerPause {
	p := &ledgerPause{app: app, read: make(chan struct{}), proceed: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pause = p
	return p
}

// attempts reads app's ledger in [from, to), pausing when armed.
func (s *modelStore) attempts(app string, from, to time.Time) []Attempt {
	s.mu.Lock()
	var out []Attempt
	for _, x := range s.sent[app] {
		// The SQL store keeps microseconds.
		at := x.at.Truncate(time.Microsecond)
		if !at.Before(from.Truncate(time.Microsecond)) && at.Before(to) {
			out = append(out, Attempt{At: at, Send: x.send, Claim: x.claim})
		}
	}
	p := s.pause
	if p != nil && p.app == app {
		s.pause = nil
	} else {
		p = nil
	}
	s.mu.Unlock()
	if p != nil {
		close(p.read)
		<-p.proceed
	}
	return out
}

func (s *modelStore) SentBetween(_ context.Context, app string, from, to time.Time) ([]time.Time, error) {
	var out []time.Time
	for _, a := range s.attempts(app, from, to) {
		out = append(out, a.At)
	}
	return out, nil
}

func (s *modelStore) AttemptsBetween(_ context.Context, app string, from, to time.Time) ([]Attempt, error) {
	return s.attempts(app, from, to), nil
}

func (s *modelStore) SaveBlock(_ context.Context, app string, until, _ time.Time) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until.After(s.blocks[app]) {
		s.blocks[app] = until
	}
	return s.blocks[app], nil
}

func (s *modelStore) BlockedUntil(_ context.Context, app string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocks[app], nil
}

func (s *modelStore) set(app string, sends []rmSend) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent[app] = slices.Clone(sends)
}

// plainLedger is the store as a plain Ledger (and BlockStore): a rebuild
// from it seeds every attempt anonymously (an older store, or one that
// names no claims).
type plainLedger struct{ s *modelStore }

func (l plainLedger) SentBetween(ctx context.Context, app string, from, to time.Time) ([]time.Time, error) {
	return l.s.SentBetween(ctx, app, from, to)
}

func (l plainLedger) SaveBlock(ctx context.Context, app string, until, now time.Time) (time.Time, error) {
	return l.s.SaveBlock(ctx, app, until, now)
}

func (l plainLedger) BlockedUntil(ctx context.Context, app string) (time.Time, error) {
	return l.s.BlockedUntil(ctx, app)
}

// ---------------------------------------------------------------------------
// The randomized property test

var modelZones = []string{
	"Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
	"Asia/Kolkata", "America/Santiago", "Asia/Beirut", "Pacific/Chatham", "UTC",
}

// modelStart is an instant, whole millisecond, a day or two before one of
// zone's transitions in 2026 (or a random 2026 instant for a zone without).
func modelStart(rng *rand.Rand, loc *time.Location) time.Time {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(364 * 24 * time.Hour))))
	if _, end := base.In(loc).ZoneBounds(); !end.IsZero() && end.Year() == 2026 {
		base = end.Add(-time.Duration(rng.Int64N(int64(40 * time.Hour))))
	}
	return base.Truncate(time.Millisecond)
}

func modelPolicy(rng *rand.Rand) Policy {
	p := Policy{Hourly: 1 + rng.IntN(4), Daily: 1 + rng.IntN(6), Timezone: modelZones[rng.IntN(len(modelZones))]}
	if rng.IntN(8) == 0 {
		p.Hourly, p.Daily = 1000+rng.IntN(5), 1000+rng.IntN(10) // raised by contract
	}
	p.HourWindow = []HourWindow{HourRolling, HourClock, ""}[rng.IntN(3)]
	p.DayWindow = []DayWindow{DayCalendar, DayRolling, ""}[rng.IntN(3)]
	return p.withDefaults()
}

func modelSeeds(t *testing.T) []uint64 {
	if s := os.Getenv("QUOTA_MODEL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return []uint64{v}
	}
	n := 10
	if s := os.Getenv("QUOTA_MODEL_SEEDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		n = v
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(20260601 + i)
	}
	return seeds
}

const modelSteps = 600

// TestGuardAgreesWithTheModel drives several Guards (as several worker
// processes, some reading the store as an AttemptLedger and some, in some
// seeds, as a plain Ledger) sharing one real redis-server, with an injected
// clock, through random reserve and claim / give back (the store's row and
// the Release in either order, or one of them late) / confirm / block / 429
// / flush / restart / forget / status / held / clock steps, and rebuilds
// stopped between their ledger read and their seed while claims are given
// back, and checks every answer against the model: a grant only where the
// model has room (never exceeded), no room only where the model has none
// (the last slot usable), OpensAt after now and never after the model's
// first feasible instant, the counts after each Release, Held as the model
// finds the slot under the reservation's id or its claim, and the pushed
// attempts within the service's own windows.
func TestGuardAgreesWithTheModel(t *testing.T) {
	srv := testenv.Redis(t)
	for _, seed := range modelSeeds(t) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			client := redis.NewClient(&redis.Options{Addr: srv.Addr})
			defer func() { _ = client.Close() }()
			if err := client.FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			runModel(t, seed, srv, client)
		})
	}
}

// modelGuard is one worker process's Guard and how it reads the store.
type modelGuard struct {
	*Guard
	named bool // through the AttemptLedger; else a plain Ledger
	name  string
}

// modelRun is one seed's run.
type modelRun struct {
	t      *testing.T
	seed   uint64
	rng    *rand.Rand
	ctx    context.Context
	srv    *testenv.RedisServer
	client *redis.Client
	apps   map[string]Policy
	names  []string
	margin time.Duration
	start  time.Time
	clock  *fakeClock
	store  *modelStore
	guards []modelGuard
	models map[string]*rmApp
	trace  []string
	stats  map[string]int
	step   int
	// within, doing and hint are named in a failure: the step under way
	// (and the one it is part of), and what the model expects of the last
	// rebuild.
	within, doing, hint string
	sends               int64 // the store's last send id
}

func runModel(t *testing.T, seed uint64, srv *testenv.RedisServer, client *redis.Client) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	apps := map[string]Policy{"a": modelPolicy(rng), "b": modelPolicy(rng)}
	margin := []time.Duration{NoMargin, DefaultMargin, 17 * time.Second}[rng.IntN(3)]
	start := modelStart(rng, mustLoad(t, apps["a"].Timezone))
	r := &modelRun{
		t: t, seed: seed, rng: rng, ctx: context.Background(), srv: srv, client: client,
		apps: apps, names: []string{"a", "b"}, margin: margin, start: start,
		clock:  &fakeClock{t: start},
		store:  &modelStore{sent: map[string][]rmSend{}, blocks: map[string]time.Time{}},
		models: map[string]*rmApp{},
		stats:  map[string]int{},
	}
	// Which processes read the store as an AttemptLedger: all of them (a
	// deployment today), or a mix (an upgrade under way).
	kinds := [][]bool{{true, true, true}, {true, true, true}, {true, false, true}, {false, true, false}}[rng.IntN(4)]
	for i, named := range kinds {
		opts := Options{Client: client, Ledger: plainLedger{r.store}, Apps: apps, Prefix: "model:", Margin: margin, Now: r.clock.Now,
			Logger: zerolog.Nop()}
		kind := "plain"
		if named {
			opts.Ledger, kind = r.store, "named"
		}
		g, err := New(opts)
		if err != nil {
			t.Fatalf("seed %d: New: %v", seed, err)
		}
		r.guards = append(r.guards, modelGuard{Guard: g, named: named, name: fmt.Sprintf("g%d(%s)", i, kind)})
	}
	for _, n := range r.names {
		p := apps[n]
		r.models[n] = &rmApp{p: p, loc: mustLoad(t, p.Timezone), margin: max(margin, 0), lost: true, released: map[string]bool{}}
	}
	for r.step = 0; r.step < modelSteps; r.step++ {
		r.doStep()
	}
	r.doing, r.hint = "the end of the run", ""
	for _, n := range r.names {
		if msg := r.models[n].serviceCheck(); msg != "" {
			r.fail("app %s: service limits exceeded: %s", n, msg)
		}
	}
	t.Logf("seed %d: %d steps, guards %s, %v, policies %+v margin %s", seed, modelSteps, r.guardNames(), r.stats, apps, max(margin, 0))
}

func (r *modelRun) guardNames() string {
	var out []string
	for _, g := range r.guards {
		out = append(out, g.name)
	}
	return strings.Join(out, " ")
}

func (r *modelRun) fail(format string, args ...any) {
	r.t.Helper()
	tail := r.trace
	if len(tail) > 30 {
		tail = tail[len(tail)-30:]
	}
	var ctx string
	if r.within != "" {
		ctx += fmt.Sprintf("\nWITHIN STEP %d: %s", r.step, r.within)
	}
	if r.doing != "" {
		ctx += fmt.Sprintf("\nSTEP %d: %s", r.step, r.doing)
	}
	if r.hint != "" {
		ctx += "\nMODEL: " + r.hint
	}
	r.t.Fatalf("seed %d (replay: QUOTA_MODEL_SEED=%d), policies %+v, margin %s, start %s, guards %s\nlast steps:\n  %s%s\nFAILURE: %s",
		r.seed, r.seed, r.apps, max(r.margin, 0), r.start.UTC().Format(time.RFC3339Nano), r.guardNames(),
		strings.Join(tail, "\n  "), ctx, fmt.Sprintf(format, args...))
}

func (r *modelRun) tracef(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf("%d ", r.step)+fmt.Sprintf(format, args...))
}

// ts formats x in app's zone.
func (r *modelRun) ts(app string, x time.Time) string {
	return x.In(r.models[app].loc).Format("2006-01-02T15:04:05.000Z07:00")
}

// entriesText is app's slots as the model and Redis hold them (failures).
func (r *modelRun) entriesText(app string) string {
	m := r.models[app]
	var b strings.Builder
	b.WriteString("model slots:")
	for _, e := range m.entries {
		h := e.holder
		if h == "" {
			h = "anonymous"
		} else if len(h) == 24 {
			h = "res " + h[:6]
		}
		fmt.Fprintf(&b, " %s@%s", h, r.ts(app, e.at))
	}
	b.WriteString("\nredis members:")
	zs, err := r.client.ZRangeWithScores(r.ctx, r.guards[0].keys(app).entries, 0, -1).Result()
	if err != nil {
		fmt.Fprintf(&b, " (%v)", err)
	}
	for _, z := range zs {
		mem, _ := z.Member.(string)
		if len(mem) == 24 {
			mem = "res " + mem[:6]
		}
		fmt.Fprintf(&b, " %s@%s", mem, r.ts(app, time.UnixMilli(int64(z.Score))))
	}
	// Any other sorted set of the app (the released claims), whatever its
	// name.
	k := r.guards[0].keys(app)
	all, _ := r.client.Keys(r.ctx, strings.TrimSuffix(k.entries, "entries")+"*").Result()
	slices.Sort(all)
	for _, key := range all {
		if key == k.entries {
			continue
		}
		if typ, _ := r.client.Type(r.ctx, key).Result(); typ == "zset" {
			mem, _ := r.client.ZRange(r.ctx, key, 0, -1).Result()
			fmt.Fprintf(&b, "\nredis %s: %v", key, mem)
		}
	}
	return b.String()
}

func (r *modelRun) doStep() {
	now := r.clock.Now()
	app := r.names[r.rng.IntN(len(r.names))]
	m := r.models[app]
	g := r.guards[r.rng.IntN(len(r.guards))]
	r.doing, r.hint = "", ""
	op := r.rng.IntN(100)
	switch {
	case op < 40: // reserve, and claim (the ledger records the attempt at At)
		r.doing = fmt.Sprintf("%s Reserve on %s at %s, then its claim", app, g.name, r.ts(app, now))
		lost := m.lost
		if lost {
			r.rebuilt(g, app, m.ledger)
		}
		res, err := g.Reserve(r.ctx, app)
		r.checkReserve(app, res, err)
		if lost {
			r.heldAfterRebuild(g, app)
		}
	case op < 48: // give a live claim back, in one of four orders
		if len(m.live) > 0 {
			r.giveBack(g, app)
		}
	case op < 51: // confirm: the send is final (nothing more to give back)
		if len(m.live) > 0 {
			m.live = m.live[1:]
		}
	case op < 54: // the other half of a late give-back
		r.finishLate(g, app)
	case op < 58: // held
		r.held(g, app)
	case op < 62: // block or 429
		r.block(g, app)
	case op < 65: // Redis loses everything (or the markers; stopped rebuilds add more)
		r.lose(g, r.rng.IntN(3))
	case op < 68: // status
		r.doing = fmt.Sprintf("%s Status on %s at %s", app, g.name, r.ts(app, now))
		r.checkStatus(g, app)
	case op < 72: // a rebuild stopped between its ledger read and its seed
		r.stoppedRebuild(g, app)
	default: // clock steps
		r.clockStep(m)
	}
}

// rebuilt is a rebuild by g of app's windows from the ledger rows read.
func (r *modelRun) rebuilt(g modelGuard, app string, rows []rmSend) {
	m := r.models[app]
	skipped := m.rebuild(rows, g.named)
	r.stats["rebuild"]++
	r.tracef("%s rebuilt by %s from %d ledger rows, %d claims given back skipped", app, g.name, len(rows), skipped)
	if skipped > 0 {
		r.stats["seed skipped a released claim"] += skipped
		r.hint = fmt.Sprintf("the rebuild by %s read %d ledger rows and does not seed %d of them: claims Released (the released set) whose rows the store had not deleted when it read",
			g.name, len(rows), skipped)
	}
}

// checkReserve checks Reserve's answer at the clock's now against the
// model (already rebuilt if the windows were lost), and claims a grant.
func (r *modelRun) checkReserve(app string, res Reservation, err error) {
	m := r.models[app]
	now := r.clock.Now()
	want := m.feasible(now)
	wh, wd := m.counts(now)
	var nr *NoRoomError
	switch {
	case err == nil:
		r.tracef("%s reserve@%s -> reserved %s (hour %d day %d)", app, r.ts(app, now), res.ID[:6], res.HourUsed, res.DayUsed)
		if !want {
			r.fail("guard granted %s at %s; model: hour %d/%d day %d/%d blocked until %s: no room\n%s",
				app, r.ts(app, now), wh, m.p.Hourly, wd, m.p.Daily, r.ts(app, m.blocked), r.entriesText(app))
		}
		if res.HourUsed != wh+1 || res.DayUsed != wd+1 {
			r.fail("reservation counts hour %d day %d, model %d %d\n%s", res.HourUsed, res.DayUsed, wh+1, wd+1, r.entriesText(app))
		}
		c := r.claim(app, res)
		r.stats["reserved"]++
		if c.send == 0 {
			r.stats["claim of no send"]++
		}
		if msg := m.serviceCheck(); msg != "" {
			r.fail("service limits exceeded: %s", msg)
		}
	case errors.As(err, &nr):
		r.tracef("%s reserve@%s -> full by %s opens %s", app, r.ts(app, now), nr.By, r.ts(app, nr.OpensAt))
		if want {
			r.fail("guard refused %s at %s (%v); model: hour %d/%d day %d/%d: room (a slot lost)\n%s",
				app, r.ts(app, now), nr, wh, m.p.Hourly, wd, m.p.Daily, r.entriesText(app))
		}
		e := m.earliest(now)
		if !nr.OpensAt.After(now) {
			r.fail("no room at %s, opens at %s: not later", r.ts(app, now), r.ts(app, nr.OpensAt))
		}
		if !e.IsZero() && nr.OpensAt.After(e) {
			r.fail("no room at %s, opens at %s, but the model allows a reservation at %s", r.ts(app, now), r.ts(app, nr.OpensAt), r.ts(app, e))
		}
		if nr.HourUsed != wh || nr.DayUsed != wd {
			r.fail("no-room counts hour %d day %d, model %d %d\n%s", nr.HourUsed, nr.DayUsed, wh, wd, r.entriesText(app))
		}
		r.stats["full"]++
	default:
		r.fail("Reserve: %v", err)
	}
}

// claim records res's attempt in the store: a send's next claim (a send
// given back earlier, claimed again), a new send's first, or (1 in 8) an
// attempt of no send, which the reservation is not Claimed for.
func (r *modelRun) claim(app string, res Reservation) rmRes {
	m := r.models[app]
	c := rmRes{res: res, step: r.step}
	switch {
	case r.rng.IntN(8) == 0:
	case len(m.returned) > 0 && r.rng.IntN(3) == 0:
		i := r.rng.IntN(len(m.returned))
		c.send, c.claim = m.returned[i].send, m.returned[i].claim+1
		m.returned = slices.Delete(m.returned, i, i+1)
	default:
		r.sends++
		c.send, c.claim = r.sends, 1
	}
	if c.send != 0 {
		c.res = res.Claimed(c.send, c.claim)
	}
	m.entries = append(m.entries, rmEntry{at: res.At, holder: res.ID})
	m.ledger = append(m.ledger, rmSend{at: res.At, resID: res.ID, send: c.send, claim: c.claim})
	r.store.set(app, m.ledger)
	m.live = append(m.live, c)
	m.recent = append(m.recent, c)
	if len(m.recent) > 12 {
		m.recent = m.recent[1:]
	}
	r.tracef("%s claim %s", app, c)
	return c
}

// giveBack gives back a random live claim of app: the store's row deleted
// and the reservation Released, in either order, or one of the two now
// and the other at a later step (finishLate).
func (r *modelRun) giveBack(g modelGuard, app string) {
	m := r.models[app]
	i := r.rng.IntN(len(m.live))
	c := m.live[i]
	m.live = slices.Delete(m.live, i, i+1)
	switch r.rng.IntN(4) {
	case 0:
		r.doing = fmt.Sprintf("%s give back %s: ledger row deleted, then Release on %s", app, c, g.name)
		r.deleteRow(app, c.res.ID)
		r.release(g, app, c)
	case 1:
		r.doing = fmt.Sprintf("%s give back %s: Release on %s, then ledger row deleted", app, c, g.name)
		r.release(g, app, c)
		r.deleteRow(app, c.res.ID)
	case 2:
		r.doing = fmt.Sprintf("%s late give-back of %s: ledger row deleted now, Release later", app, c)
		r.deleteRow(app, c.res.ID)
		m.unreleased = append(m.unreleased, c)
	default:
		r.doing = fmt.Sprintf("%s late give-back of %s: Release on %s now, ledger row deleted later", app, c, g.name)
		r.release(g, app, c)
		for j := range m.ledger {
			if m.ledger[j].resID == c.res.ID {
				m.ledger[j].givenBack = true
			}
		}
		r.store.set(app, m.ledger)
	}
	r.stats["give back"]++
}

// finishLate does the other half of a late give-back of app: the Release
// of a claim whose row is gone, or the deletion of a Released claim's row.
func (r *modelRun) finishLate(g modelGuard, app string) {
	m := r.models[app]
	var rows []rmSend
	for _, s := range m.ledger {
		if s.givenBack {
			rows = append(rows, s)
		}
	}
	switch {
	case len(m.unreleased) > 0 && (len(rows) == 0 || r.rng.IntN(2) == 0):
		i := r.rng.IntN(len(m.unreleased))
		c := m.unreleased[i]
		m.unreleased = slices.Delete(m.unreleased, i, i+1)
		r.doing = fmt.Sprintf("%s late give-back of %s: Release on %s, its ledger row deleted before", app, c, g.name)
		if _, byClaim := r.release(g, app, c); byClaim > 0 {
			r.stats["late Release freed a claim's seeded slot"]++
		}
		r.stats["late Release"]++
	case len(rows) > 0:
		s := rows[r.rng.IntN(len(rows))]
		r.doing = fmt.Sprintf("%s late give-back of send %d claim %d: ledger row deleted, Released before", app, s.send, s.claim)
		r.deleteRow(app, s.resID)
		r.stats["late row deletion"]++
	}
}

// deleteRow deletes the store's row of reservation id: its send may be
// claimed again.
func (r *modelRun) deleteRow(app, id string) {
	m := r.models[app]
	m.ledger = slices.DeleteFunc(m.ledger, func(s rmSend) bool {
		if s.resID == id && s.send != 0 {
			m.returned = append(m.returned, rmRes{send: s.send, claim: s.claim})
		}
		return s.resID == id
	})
	r.store.set(app, m.ledger)
	r.tracef("%s ledger row of res %s deleted", app, id[:6])
}

// release Releases c on g and, unless the windows are lost (a Status would
// rebuild them), checks the counts right after: exactly the model's slots
// left.
func (r *modelRun) release(g modelGuard, app string, c rmRes) (byID, byClaim int) {
	m := r.models[app]
	if err := g.Release(r.ctx, c.res); err != nil {
		r.fail("Release: %v", err)
	}
	byID, byClaim = m.release(c)
	switch {
	case byClaim > 0:
		r.stats["release freed a claim's seeded slot"]++
	case byID > 0:
		r.stats["release freed its own slot"]++
	default:
		r.stats["release freed nothing"]++
	}
	r.tracef("%s Release %s on %s: model frees %d by id, %d by claim", app, c, g.name, byID, byClaim)
	if !m.lost {
		r.checkStatus(g, app)
		r.checkSlots(app, fmt.Sprintf("after Release(%s)", c))
	}
	return byID, byClaim
}

// checkSlots compares the instants of app's slots that count in a window
// now, in Redis and in the model: the same slots, not only as many.
func (r *modelRun) checkSlots(app, when string) {
	m := r.models[app]
	now := r.clock.Now()
	zs, err := r.client.ZRangeWithScores(r.ctx, r.guards[0].keys(app).entries, 0, -1).Result()
	if err != nil {
		r.fail("ZRANGE: %v", err)
	}
	var got, want []int64
	for _, z := range zs {
		if at := time.UnixMilli(int64(z.Score)); m.counted(at, now) {
			got = append(got, at.UnixMilli())
		}
	}
	for _, e := range m.entries {
		if m.counted(e.at, now) {
			want = append(want, e.at.UnixMilli()) // the model's instants are whole milliseconds
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		r.fail("%s: the slots counted at %s are at %v in Redis, %v in the model (Unix ms)\n%s", when, r.ts(app, now), got, want, r.entriesText(app))
	}
}

// held checks Held of a recent reservation of app; half the time with its
// UseBy cleared, so that the slot alone is asked after whatever the clock.
func (r *modelRun) held(g modelGuard, app string) {
	m := r.models[app]
	if len(m.recent) == 0 {
		return
	}
	pick := m.recent
	if r.rng.IntN(2) == 0 {
		// Most slots are gone or out of every window by the time they are
		// asked after: half the time, one the model finds held.
		var holding []rmRes
		for _, c := range m.recent {
			if m.holdsSlot(c, r.clock.Now()) {
				holding = append(holding, c)
			}
		}
		if len(holding) > 0 {
			pick = holding
		}
	}
	c := pick[r.rng.IntN(len(pick))]
	res := c.res
	if r.rng.IntN(2) == 0 {
		res.UseBy = time.Time{}
	}
	now := r.clock.Now()
	r.doing = fmt.Sprintf("%s Held(%s) on %s at %s", app, c, g.name, r.ts(app, now))
	held, err := g.Held(r.ctx, res)
	if err != nil {
		r.fail("Held: %v", err)
	}
	want, sure, via := m.heldWant(c, res, now)
	r.tracef("%s Held(%s) = %v (model %v, sure %v: %s)", app, c, held, want, sure, via)
	if sure && held != want {
		r.fail("Held(%s) = %v, model %v (%s)\n%s", c, held, want, via, r.entriesText(app))
	}
	switch {
	case held && via == "its claim":
		r.stats["held by its claim"]++
	case held:
		r.stats["held by its id"]++
	case sure:
		r.stats["not held"]++
	}
}

func (r *modelRun) block(g modelGuard, app string) {
	m := r.models[app]
	now := r.clock.Now()
	if r.rng.IntN(2) == 0 {
		until := now.Add(time.Duration(1+r.rng.Int64N(int64(3*time.Hour/time.Millisecond))) * time.Millisecond)
		if err := g.Block(r.ctx, app, until); err != nil {
			r.fail("Block: %v", err)
		}
		if until.After(m.blocked) {
			m.blocked = until
		}
		r.tracef("%s block until %s", app, r.ts(app, until))
	} else {
		ra := time.Duration(r.rng.IntN(3)) * time.Duration(r.rng.Int64N(int64(2*time.Hour/time.Millisecond))) * time.Millisecond
		until, err := g.BlockRateLimited(r.ctx, app, ra)
		if err != nil {
			r.fail("BlockRateLimited: %v", err)
		}
		want := m.nextBoundary(now)
		if t2 := now.Add(ra); t2.After(want) {
			want = t2
		}
		// It returns the block in force: a longer one stays.
		if m.blocked.After(want) {
			want = m.blocked
		}
		want = time.UnixMilli(score(want))
		if !until.Equal(want) {
			r.fail("BlockRateLimited at %s (retry-after %s) = %s, model %s", r.ts(app, now), ra, r.ts(app, until), r.ts(app, want))
		}
		if until.After(m.blocked) {
			m.blocked = until
		}
		r.tracef("%s 429 block until %s", app, r.ts(app, until))
	}
	r.stats["block"]++
}

// lose makes Redis lose every app's windows: 0 FLUSHALL, 1 a restart
// (empty), 2 Forget (the markers and the rebuild generations: the entries
// and the released set stay).
func (r *modelRun) lose(g modelGuard, how int) {
	switch how {
	case 0:
		if err := r.client.FlushAll(r.ctx).Err(); err != nil {
			r.fail("FLUSHALL: %v", err)
		}
		r.tracef("FLUSHALL")
	case 1:
		r.srv.Restart(r.t)
		r.stats["restart"]++
		r.tracef("restart redis")
	default:
		if err := g.Forget(r.ctx); err != nil {
			r.fail("Forget: %v", err)
		}
		r.tracef("Forget on %s", g.name)
	}
	for _, m := range r.models {
		m.lost = true
		if how != 2 {
			m.released = map[string]bool{}
		}
	}
	r.stats["lost"]++
}

// checkStatus runs Status on g and checks it against the model.
func (r *modelRun) checkStatus(g modelGuard, app string) {
	m := r.models[app]
	lost := m.lost
	st, err := g.Status(r.ctx, app)
	if lost && err == nil {
		r.rebuilt(g, app, m.ledger)
	}
	r.compareStatus(app, st, err)
	if lost {
		r.heldAfterRebuild(g, app)
	}
}

// heldAfterRebuild checks Held, UseBy aside, of app's recent reservations
// right after a rebuild: a claimed one is held where the rebuild read its
// claim from an AttemptLedger (and no Release gave it back), an unclaimed
// one or one seeded anonymously is not.
func (r *modelRun) heldAfterRebuild(g modelGuard, app string) {
	m := r.models[app]
	now := r.clock.Now()
	r.checkSlots(app, "right after the rebuild")
	for _, c := range m.recent {
		res := c.res
		res.UseBy = time.Time{}
		held, err := g.Held(r.ctx, res)
		if err != nil {
			r.fail("Held: %v", err)
		}
		want, sure, via := m.heldWant(c, res, now)
		if sure && held != want {
			r.fail("right after the rebuild, Held(%s) on %s = %v, model %v (%s)\n%s", c, g.name, held, want, via, r.entriesText(app))
		}
		if held && via == "its claim" {
			r.stats["held by its claim after a rebuild"]++
		} else if sure && !held && c.send != 0 {
			r.stats["claimed, not held after a rebuild"]++
		}
	}
}

func (r *modelRun) compareStatus(app string, st Status, err error) {
	m := r.models[app]
	now := r.clock.Now()
	if err != nil {
		r.fail("Status: %v", err)
	}
	wh, wd := m.counts(now)
	if st.Hour.Used != wh || st.Day.Used != wd {
		r.fail("Status at %s: used hour %d day %d, model %d %d\n%s", r.ts(app, now), st.Hour.Used, st.Day.Used, wh, wd, r.entriesText(app))
	}
	if e := m.earliest(now); !e.IsZero() && st.NextOpening.After(e) {
		r.fail("Status at %s: next opening %s, model allows %s", r.ts(app, now), r.ts(app, st.NextOpening), r.ts(app, e))
	}
	if m.feasible(now) != st.NextOpening.Equal(now) {
		r.fail("Status at %s: next opening %s, model feasible now: %v", r.ts(app, now), r.ts(app, st.NextOpening), m.feasible(now))
	}
	r.stats["status"]++
}

// callAnswer is what a Reserve or a Status started by startCall answered.
type callAnswer struct {
	res Reservation
	st  Status
	err error
}

// startCall runs op ("Reserve" or "Status") of app on g in a goroutine and
// hands its answer to the channel it returns.
func startCall(ctx context.Context, g interface {
	Reserve(context.Context, string) (Reservation, error)
	Status(context.Context, string) (Status, error)
}, app, op string) <-chan callAnswer {
	done := make(chan callAnswer, 1)
	go func() {
		var a callAnswer
		if op == "Reserve" {
			a.res, a.err = g.Reserve(ctx, app)
		} else {
			a.st, a.err = g.Status(ctx, app)
		}
		done <- a
	}()
	return done
}

// stoppedRebuild makes app's windows lost (unless they are), starts a
// Reserve or a Status on g, stops its rebuild between the ledger read and
// the seed, gives claims back meanwhile (and checks Held, and may lose
// Redis's state again), lets the seed run, and checks the answer: a claim
// Released during the stop is not seeded (the released set), whatever the
// order of its Release and its row's deletion.
func (r *modelRun) stoppedRebuild(g modelGuard, app string) {
	m := r.models[app]
	if !m.lost {
		r.lose(g, []int{0, 2}[r.rng.IntN(2)]) // no restart: they are slow
	}
	op := "Status"
	if r.rng.IntN(3) > 0 {
		op = "Reserve"
	}
	p := r.store.pauseNext(app)
	defer func() {
		// A failure must leave neither the call stopped nor the pause armed.
		p.resume()
		r.store.mu.Lock()
		r.store.pause = nil
		r.store.mu.Unlock()
	}()
	done := startCall(r.ctx, g, app, op)
	select {
	case <-p.read:
	case a := <-done:
		r.fail("%s %s on %s answered (%v) without reading the ledger: the windows were lost, a rebuild was due", app, op, g.name, a.err)
	case <-time.After(30 * time.Second):
		r.fail("%s %s on %s: no ledger read in 30 s", app, op, g.name)
	}
	read := slices.Clone(m.ledger)
	r.tracef("%s %s on %s read %d ledger rows and stops before its seed", app, op, g.name, len(read))
	stop := fmt.Sprintf("%s %s on %s at %s stopped between its ledger read (%d rows) and its seed", app, op, g.name, r.ts(app, r.clock.Now()), len(read))
	var during []string
	again := false // the state was lost again: the seed is refused, the call reads again
	for range 1 + r.rng.IntN(3) {
		o := r.guards[r.rng.IntN(len(r.guards))]
		r.within = stop + "; meanwhile: " + strings.Join(during, "; ")
		r.doing = ""
		k := r.rng.IntN(20)
		switch {
		case k < 12 && len(m.live) > 0:
			r.giveBack(o, app)
			r.stats["give back during a stopped rebuild"]++
		case k < 16:
			r.finishLate(o, app)
		case k < 19:
			r.held(o, app) // false: no marker of this run during the rebuild
		default:
			how := r.rng.IntN(3)
			r.lose(o, how)
			r.doing = []string{"FLUSHALL", "restart", "Forget on " + o.name}[how]
			again = true // each takes the generation: the stale read is refused
		}
		if r.doing != "" {
			during = append(during, r.doing)
		}
	}
	r.within = ""
	r.doing = stop + "; meanwhile: " + strings.Join(during, "; ") + "; then the seed"
	p.resume()
	var a callAnswer
	select {
	case a = <-done:
	case <-time.After(30 * time.Second):
		r.fail("%s %s on %s: no answer 30 s after its ledger read resumed", app, op, g.name)
	}
	rows := read
	if again {
		rows = m.ledger // the stale read is not seeded (generation.lua): read again
	}
	if a.err == nil || errors.Is(a.err, ErrNoRoom) {
		r.rebuilt(g, app, rows)
	}
	if op == "Reserve" {
		r.checkReserve(app, a.res, a.err)
	} else {
		r.compareStatus(app, a.st, a.err)
	}
	r.heldAfterRebuild(g, app)
	r.stats["stopped rebuild"]++
}

func (r *modelRun) clockStep(m *rmApp) {
	now := r.clock.Now()
	var to time.Time
	switch k := r.rng.IntN(9); k {
	case 0:
		to = now.Add(time.Duration(1+r.rng.Int64N(300_000)) * time.Millisecond)
	case 1, 2:
		e := m.earliest(now)
		if e.IsZero() {
			return
		}
		to = e.Add(time.Duration(r.rng.IntN(3)-1) * time.Millisecond) // -1ms, exact, +1ms
	case 3:
		if len(m.entries) == 0 {
			return
		}
		e := m.entries[r.rng.IntN(len(m.entries))].at
		d := []time.Duration{time.Hour, 24 * time.Hour}[r.rng.IntN(2)] + m.margin
		to = e.Add(d + time.Duration(r.rng.IntN(3)-1)*time.Millisecond)
	case 4, 5:
		b := m.boundaries(now, now.Add(26*time.Hour))
		if len(b) == 0 {
			return
		}
		x := b[r.rng.IntN(min(len(b), 4))]
		if r.rng.IntN(2) == 0 {
			_, x = m.dayBounds(now)
		}
		to = x.Add(time.Duration(r.rng.IntN(3)-1)*time.Millisecond - time.Duration(r.rng.IntN(2))*m.margin)
	case 6:
		to = now.Add(time.Duration(r.rng.Int64N(int64(7*time.Hour/time.Millisecond))) * time.Millisecond)
	default:
		to = now.Add(time.Duration(r.rng.Int64N(int64(20*time.Minute/time.Millisecond))) * time.Millisecond)
	}
	if !to.After(now) {
		return
	}
	r.clock.Set(to)
	r.tracef("clock -> %s", to.UTC().Format("2006-01-02T15:04:05.000Z"))
	r.stats["clock"]++
}

// ---------------------------------------------------------------------------
// Directed probes (findings)

// Scores are whole milliseconds. A reservation used to be scored at its
// instant rounded down while the windows were computed at the exact one, so
// a slot left a rolling window up to 1 ms before its hold ended: with an
// hourly limit of 1, a second grant 59:59.9996 after the first. Scores are
// now rounded up: a slot holds its place until its next whole millisecond
// plus the hold, up to 1 ms late and never early, and the reservation keeps
// its exact instant (the worker claims and the ledger records at it).
func TestRollingWindowSlotNeverLeavesEarly(t *testing.T) {
	for _, margin := range []time.Duration{NoMargin, DefaultMargin} {
		t.Run(fmt.Sprint("margin=", max(margin, 0)), func(t *testing.T) {
			base := at(t, "2026-06-01T12:00:00+08:00")
			b := setup(t, map[string]Policy{"main": {Hourly: 1, Daily: 10, HourWindow: HourRolling}}, margin, base.Add(500*time.Microsecond))
			first := b.mustReserve(t, "main")
			b.ledger.add("main", first.At)
			if !first.At.Equal(base.Add(500 * time.Microsecond)) {
				t.Fatalf("reservation instant %s, want the clock's %s", first.At.Format(time.RFC3339Nano), base.Add(500*time.Microsecond).Format(time.RFC3339Nano))
			}
			hold := time.Hour + max(margin, 0)
			// 0.4 ms before the slot's hold ends.
			b.clock.Set(first.At.Add(hold - 400*time.Microsecond))
			res, nr := b.reserve(t, "main")
			if nr == nil {
				t.Fatalf("hourly limit 1: first slot at %s, second granted at %s, %s later (< the %s the slot is held)",
					first.At.UTC().Format(time.RFC3339Nano), res.At.UTC().Format(time.RFC3339Nano), res.At.Sub(first.At), hold)
			}
			if want := base.Add(time.Millisecond + hold); !nr.OpensAt.Equal(want) {
				t.Errorf("opens at %s, want %s (the slot's next whole millisecond plus the hold)", nr.OpensAt.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
			}
			b.clock.Set(nr.OpensAt)
			second := b.mustReserve(t, "main")
			if d := second.At.Sub(first.At); d < hold {
				t.Errorf("second grant %s after the first, want at least %s", d, hold)
			}
		})
	}
}

// The rebuild used to read the ledger only up to now + 1 minute, while the
// live windows count every entry up to +inf. Sends stamped more than a
// minute ahead of the rebuilding process's clock (a clock that ran 90 s
// ahead and was stepped back by NTP; or a worker behind the one that sent)
// are counted before Redis loses its state and forgotten after: the same
// reservation is refused before a FLUSHALL and granted after it, although
// in real time both sends were within the last hour.
func TestRebuildCountsSendsAheadOfTheClock(t *testing.T) {
	ctx := context.Background()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 10}}, DefaultMargin, now)
	for range 2 {
		r := b.mustReserve(t, "main")
		b.ledger.add("main", r.At)
	}
	// The clock ran 90 s ahead; NTP steps it back to the real time.
	b.clock.Set(now.Add(-90 * time.Second))
	nr := b.mustBeFull(t, "main") // live state: both sends counted
	t.Logf("before the loss: no room (%s) until %s", nr.By, nr.OpensAt.UTC().Format(time.RFC3339))
	if err := b.client.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if res, nr := b.reserve(t, "main"); nr == nil {
		t.Fatalf("after a FLUSHALL the rebuild granted a third slot in the hour (limit 2) at %s: the ledger holds 2 sends at %s, 90 s ahead of the clock, which the live windows counted",
			res.At.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
}

// Worker P1 starts a rebuild after a flush and reads the ledger (empty); P2
// rebuilds first, reserves both slots of the hour, claims them and checks
// Held (true: both push). Redis loses its state again (restart, FLUSHALL,
// fail-over). P1's seed used to find no marker, write its stale, empty
// ledger read as the windows of the new Redis run and grant a third push in
// the hour. The rebuild generation (generation.lua) now ties a seed to the
// state it read the ledger in: P1 reads again and finds the hour full.
func TestStaleRebuildIsNotSeededAfterASecondLoss(t *testing.T) {
	for _, how := range []string{"flushall", "restart"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			now := at(t, "2026-06-01T12:00:00+08:00")
			b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 10}}, NoMargin, now)

			// P1: its reservation finds no state and starts a rebuild; the
			// read completes (empty ledger) and the process stalls.
			sl := &pausingLedger{inner: b.ledger, read: make(chan struct{}), proceed: make(chan struct{})}
			opts := b.opts
			opts.Ledger = sl
			p1, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				res Reservation
				err error
			}
			done := make(chan result, 1)
			go func() {
				r, err := p1.Reserve(ctx, "main")
				done <- result{r, err}
			}()
			<-sl.read

			// P2 (b.guard) rebuilds, reserves both slots, claims them, and
			// Held says they are safe to push.
			for range 2 {
				r := b.mustReserve(t, "main")
				b.ledger.add("main", r.At)
				if held, err := b.guard.Held(ctx, r); err != nil || !held {
					t.Fatalf("Held = %v, %v; want true", held, err)
				}
			}

			// Redis loses its state again.
			if how == "restart" {
				b.redis.Restart(t)
			} else if err := b.client.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}

			// P1 resumes with its stale read.
			close(sl.proceed)
			r := <-done
			if r.err == nil {
				held, _ := p1.Held(ctx, r.res)
				sent, _ := b.ledger.SentBetween(ctx, "main", now.Add(-time.Hour), now.Add(time.Hour))
				t.Fatalf("third push in one rolling hour (limit 2) granted to P1 at %s (Held %v): its rebuild seeded a ledger read from before the last loss; the ledger holds %d sends",
					r.res.At.UTC().Format(time.RFC3339), held, len(sent))
			}
			var nr *NoRoomError
			if !errors.As(r.err, &nr) {
				t.Fatalf("P1 Reserve: %v", r.err)
			}
		})
	}
}

// Redis can lose part of an app's state, not all of it: under memory
// pressure with an evicting maxmemory-policy (volatile-ttl here, for a
// deterministic choice; volatile-lru is common on managed Redis) it evicts
// keys that have a TTL one at a time. The guard's keys all have one, and
// only the marker tells lost state: with the entries evicted and the marker
// kept, the windows read as empty. This shows it happen, and that
// CheckEviction (run by every tagcast process as it connects) refuses such
// a server: noeviction, or no maxmemory, is required.
func TestCheckEvictionRefusesAServerThatCanEvictTheWindows(t *testing.T) {
	ctx := context.Background()
	now := at(t, "2026-06-01T12:00:00+08:00")
	const limit = 3000 // a quota raised by contract: a large entries key
	b := setup(t, map[string]Policy{"main": {Hourly: limit, Daily: 2 * limit}}, NoMargin, now)
	if err := CheckEviction(ctx, b.client); err != nil {
		t.Fatalf("CheckEviction on a server without maxmemory: %v", err)
	}
	for i := range limit {
		b.ledger.add("main", now.Add(-50*time.Minute+time.Duration(i)*time.Second/2))
	}
	b.mustBeFull(t, "main") // rebuilt: the hour is full
	k := b.guard.keys("main")

	mem, err := b.client.MemoryUsage(ctx, k.entries).Result()
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.client.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	var used int64
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			used, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if err := b.client.ConfigSet(ctx, "maxmemory-policy", "volatile-ttl").Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.client.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used+mem/4, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	err = CheckEviction(ctx, b.client)
	if err == nil || !strings.Contains(err.Error(), "maxmemory-policy volatile-ttl") || !strings.Contains(err.Error(), "noeviction") {
		t.Errorf("CheckEviction with maxmemory set and volatile-ttl = %v, want it refused, naming the policy and the fix", err)
	}
	if err := b.client.Set(ctx, "other:data", strings.Repeat("x", int(mem/2)), 0).Err(); err != nil {
		t.Fatal(err)
	}
	_ = b.client.Ping(ctx).Err() // the next command evicts
	if err := b.client.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	entries, _ := b.client.Exists(ctx, k.entries).Result()
	marker, _ := b.client.Exists(ctx, k.marker).Result()
	if entries != 0 || marker != 1 {
		t.Errorf("after the eviction: entries exist %d, marker exists %d; want the entries evicted alone (what CheckEviction guards against)", entries, marker)
	}
	if err := b.client.ConfigSet(ctx, "maxmemory", "1000000000").Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.client.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := CheckEviction(ctx, b.client); err != nil {
		t.Errorf("CheckEviction with noeviction: %v", err)
	}
}

// Policy.Validate, and so New, used to accept the time zone "Local":
// time.LoadLocation("Local") is the process's own zone (TZ, /etc/localtime),
// which differs between machines, so two workers would count different clock
// hours and calendar days on one Redis. config.Validate refuses "Local", but
// the quota package's own contract ("IANA name"; any number of worker
// processes) does not.
func TestPolicyRefusesTheLocalZone(t *testing.T) {
	if err := (Policy{Hourly: 2, Daily: 3, Timezone: "Local"}).Validate("apps[0].quota"); err == nil {
		t.Fatal(`Policy{Timezone: "Local"}.Validate() = nil: the zone is each process's own`)
	}
}

// Passing probes of the boundaries, limits and zone names.
func TestGuardBoundaryProbes(t *testing.T) {
	t.Run("clock hour at 10:59:59.999999 and 11:00:00", func(t *testing.T) {
		sh := mustLoad(t, "Asia/Shanghai")
		last := time.Date(2026, 6, 1, 10, 59, 59, 999999000, sh)
		b := setup(t, map[string]Policy{"main": {Hourly: 1, Daily: 10, HourWindow: HourClock}}, NoMargin, last)
		b.mustReserve(t, "main")
		b.clock.Set(last.Add(999 * time.Nanosecond)) // 10:59:59.999999999
		// Scored at its next whole millisecond, 11:00:00.000, the slot also
		// counts in the 11:00 hour: its push reaches the service after
		// 11:00 and is counted there. So the hour does not open at 11:00
		// (which a Reserve at 11:00 would refute) but at 12:00.
		nr := b.mustBeFull(t, "main")
		if want := time.Date(2026, 6, 1, 12, 0, 0, 0, sh); !nr.OpensAt.Equal(want) {
			t.Errorf("opens at %s, want %s", nr.OpensAt, want)
		}
		b.clock.Set(time.Date(2026, 6, 1, 11, 0, 0, 0, sh))
		b.mustBeFull(t, "main")
	})
	t.Run("clock hour at 10:59:59.999 and 11:00:00", func(t *testing.T) {
		sh := mustLoad(t, "Asia/Shanghai")
		last := time.Date(2026, 6, 1, 10, 59, 59, 999000000, sh)
		b := setup(t, map[string]Policy{"main": {Hourly: 1, Daily: 10, HourWindow: HourClock}}, NoMargin, last)
		b.mustReserve(t, "main")
		b.clock.Set(time.Date(2026, 6, 1, 11, 0, 0, 0, sh))
		b.mustReserve(t, "main")
	})
	for _, tc := range []struct {
		name string
		p    Policy
		d    time.Duration
	}{
		{"rolling hour exactly 1h later", Policy{Hourly: 1, Daily: 10, HourWindow: HourRolling}, time.Hour},
		{"rolling day exactly 24h later", Policy{Hourly: 10, Daily: 1, DayWindow: DayRolling}, 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := at(t, "2026-03-28T12:34:56+01:00")
			b := setup(t, map[string]Policy{"main": tc.p}, NoMargin, start)
			b.mustReserve(t, "main")
			b.clock.Set(start.Add(tc.d - time.Millisecond))
			if nr := b.mustBeFull(t, "main"); !nr.OpensAt.Equal(start.Add(tc.d)) {
				t.Errorf("opens at %s, want %s", nr.OpensAt, start.Add(tc.d))
			}
			b.clock.Set(start.Add(tc.d))
			b.mustReserve(t, "main")
		})
	}
	t.Run("calendar days of 23 and 25 hours in Berlin", func(t *testing.T) {
		be := mustLoad(t, "Europe/Berlin")
		for _, day := range []time.Time{time.Date(2026, 3, 29, 0, 0, 0, 0, be), time.Date(2026, 10, 25, 0, 0, 0, 0, be)} {
			b := setup(t, map[string]Policy{"main": {Hourly: 100, Daily: 1, Timezone: "Europe/Berlin"}}, NoMargin, day)
			b.mustReserve(t, "main")
			b.clock.Set(time.Date(day.Year(), day.Month(), day.Day(), 23, 59, 59, 999000000, be))
			nr := b.mustBeFull(t, "main")
			next := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, be)
			if !nr.OpensAt.Equal(next) {
				t.Errorf("%s: opens at %s, want %s", day.Format(time.DateOnly), nr.OpensAt.In(be), next)
			}
			b.clock.Set(next)
			b.mustReserve(t, "main")
		}
	})
	t.Run("very large limits", func(t *testing.T) {
		b := setup(t, map[string]Policy{"main": {Hourly: 1<<63 - 1, Daily: 1<<63 - 1}}, DefaultMargin, at(t, "2026-06-01T12:00:00+08:00"))
		for range 5 {
			r := b.mustReserve(t, "main")
			if r.HourLimit != 1<<63-1 {
				t.Errorf("HourLimit %d", r.HourLimit)
			}
		}
	})
	t.Run("invalid limits and zones are refused", func(t *testing.T) {
		for _, p := range []Policy{
			{Hourly: 0, Daily: 3}, {Hourly: 2, Daily: 0}, {Hourly: -1, Daily: 3},
			{Hourly: 2, Daily: 3, Timezone: "Mars/Phobos"}, {Hourly: 2, Daily: 3, Timezone: "Asia/Shanghai "},
			{Hourly: 2, Daily: 3, Timezone: "../etc/passwd"}, {Hourly: 2, Daily: 3, HourWindow: "Rolling"},
		} {
			if err := p.Validate(""); err == nil {
				t.Errorf("%+v: Validate() = nil", p)
			}
		}
	})
}

// TestConcurrentWorkersWithLossesStayWithinTheService runs worker goroutines on several
// Guards (processes) with the worker's protocol (reserve, claim in the
// ledger, Held, push or give back), while a chaos goroutine flushes Redis
// and the clock advances; afterwards the pushes must fit the service's
// windows. Run with -race.
func TestConcurrentWorkersWithLossesStayWithinTheService(t *testing.T) {
	seeds := modelSeeds(t)
	if len(seeds) > 6 {
		seeds = seeds[:6]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			p := modelPolicy(rng)
			if p.Hourly > 100 {
				p.Hourly, p.Daily = 5, 8
			}
			start := modelStart(rng, mustLoad(t, p.Timezone))
			b := setup(t, map[string]Policy{"main": p}, DefaultMargin, start)
			store := &modelStore{sent: map[string][]rmSend{}, blocks: map[string]time.Time{}}
			opts := b.opts
			opts.Ledger = store
			opts.Logger = zerolog.Nop()
			var guards []*Guard
			for range 3 {
				g, err := New(opts)
				if err != nil {
					t.Fatal(err)
				}
				guards = append(guards, g)
			}
			ctx := context.Background()
			var mu sync.Mutex // the store's ledger as claims and give-backs change it
			var pushed []time.Time
			claim := func(r Reservation) {
				mu.Lock()
				defer mu.Unlock()
				store.mu.Lock()
				store.sent["main"] = append(store.sent["main"], rmSend{at: r.At, resID: r.ID})
				store.mu.Unlock()
			}
			giveBack := func(r Reservation) {
				mu.Lock()
				defer mu.Unlock()
				store.mu.Lock()
				store.sent["main"] = slices.DeleteFunc(store.sent["main"], func(s rmSend) bool { return s.resID == r.ID })
				store.mu.Unlock()
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g := guards[w%len(guards)]
					for {
						select {
						case <-stop:
							return
						default:
						}
						r, err := g.Reserve(ctx, "main")
						if err != nil {
							if !errors.Is(err, ErrNoRoom) && !strings.Contains(err.Error(), "state lost again") && !strings.Contains(err.Error(), "after their instant") {
								t.Errorf("Reserve: %v", err)
								return
							}
							time.Sleep(50 * time.Microsecond)
							continue
						}
						claim(r)
						held, err := g.Held(ctx, r)
						if err != nil || !held {
							giveBack(r)
							_ = g.Release(ctx, r)
							continue
						}
						mu.Lock()
						pushed = append(pushed, r.At)
						mu.Unlock()
					}
				}()
			}
			crng := rand.New(rand.NewPCG(seed, 11))
			for i := range 2000 {
				switch crng.IntN(25) {
				case 0:
					_ = b.client.FlushAll(ctx).Err()
				default:
					b.clock.Advance(time.Duration(crng.Int64N(int64(90 * time.Second))))
				}
				if i%50 == 0 {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(100 * time.Microsecond)
			}
			close(stop)
			wg.Wait()
			m := &rmApp{p: p, loc: mustLoad(t, p.Timezone)}
			for _, at := range pushed {
				m.ledger = append(m.ledger, rmSend{at: at})
			}
			slices.SortFunc(m.ledger, func(a, b rmSend) int { return a.at.Compare(b.at) })
			if msg := m.serviceCheck(); msg != "" {
				t.Fatalf("seed %d (QUOTA_MODEL_SEED=%d), policy %+v: %d pushes; service limits exceeded: %s", seed, seed, p, len(pushed), msg)
			}
			t.Logf("seed %d: %d pushes, policy %+v", seed, len(pushed), p)
		})
	}
}
