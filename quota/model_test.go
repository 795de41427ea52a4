package quota

// A model-based randomized property test of the Guard against an
// independent reference model of the windows, directed probes of the
// boundaries, and the defects a review of the guard found with them (each
// test fails without its fix). make test runs 10 seeds; more with
// QUOTA_MODEL_SEEDS=<n>. Replay a failing seed with
//
//	QUOTA_MODEL_SEED=<seed> go test -count=1 -run TestGuardAgreesWithTheModel ./quota/

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

// rmSend is one claimed attempt in the store's ledger.
type rmSend struct {
	at    time.Time
	resID string // the reservation it was claimed with
}

// rmEntry is one slot the guard is expected to count.
type rmEntry struct {
	at time.Time
	id string // reservation id; "" for a slot seeded from the ledger
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
	live    []Reservation
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

// counts is how many expected slots count in each window at t (with the
// guard's margin, as documented in policy.go).
func (m *rmApp) counts(t time.Time) (hour, day int) {
	for _, e := range m.entries {
		if m.p.HourWindow == HourClock {
			if !e.at.Before(m.hourStart(t).Add(-m.margin)) {
				hour++
			}
		} else if e.at.After(t.Add(-time.Hour - m.margin)) {
			hour++
		}
		if m.p.DayWindow == DayCalendar {
			start, _ := m.dayBounds(t)
			if !e.at.Before(start.Add(-m.margin)) {
				day++
			}
		} else if e.at.After(t.Add(-24*time.Hour - m.margin)) {
			day++
		}
	}
	return hour, day
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

// rebuild is what the guard's rebuild must produce: every ledger send, under
// ledger names (a later Release frees nothing).
func (m *rmApp) rebuild() {
	m.entries = m.entries[:0]
	for _, s := range m.ledger {
		m.entries = append(m.entries, rmEntry{at: s.at})
	}
	m.lost = false
}

// serviceCheck verifies the ledger against the service's own counting (no
// margin): no window of the policy holds more than its limit.
func (m *rmApp) serviceCheck() string {
	for i, s := range m.ledger {
		var hour, day int
		hs := m.hourStart(s.at)
		ds, _ := m.dayBounds(s.at)
		for j, o := range m.ledger {
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
// Store fake: ledger (claims given back leave it) and blocks.

type modelStore struct {
	mu     sync.Mutex
	sent   map[string][]rmSend
	blocks map[string]time.Time
}

func (s *modelStore) SentBetween(_ context.Context, app string, from, to time.Time) ([]time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	for _, x := range s.sent[app] {
		// The SQL store keeps microseconds.
		at := x.at.Truncate(time.Microsecond)
		if !at.Before(from.Truncate(time.Microsecond)) && at.Before(to) {
			out = append(out, at)
		}
	}
	return out, nil
}

func (s *modelStore) SaveBlock(_ context.Context, app string, until, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until.After(s.blocks[app]) {
		s.blocks[app] = until
	}
	return nil
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
// processes) sharing one real redis-server, with an injected clock, through
// random reserve / claim / release / block / 429 / flush / restart / forget /
// status / held / clock steps, and checks every answer against the model:
// a grant only where the model has room (never exceeded), no room only where
// the model has none (the last slot usable), OpensAt after now and never
// after the model's first feasible instant, and the ledger within the
// service's own windows.
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

func runModel(t *testing.T, seed uint64, srv *testenv.RedisServer, client *redis.Client) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ctx := context.Background()
	apps := map[string]Policy{"a": modelPolicy(rng), "b": modelPolicy(rng)}
	names := []string{"a", "b"}
	margin := []time.Duration{NoMargin, DefaultMargin, 17 * time.Second}[rng.IntN(3)]
	start := modelStart(rng, mustLoad(t, apps["a"].Timezone))
	clock := &fakeClock{t: start}
	store := &modelStore{sent: map[string][]rmSend{}, blocks: map[string]time.Time{}}
	opts := Options{Client: client, Ledger: store, Apps: apps, Prefix: "model:", Margin: margin, Now: clock.Now,
		Logger: zerolog.Nop()}
	var guards []*Guard
	for range 3 {
		g, err := New(opts)
		if err != nil {
			t.Fatalf("seed %d: New: %v", seed, err)
		}
		guards = append(guards, g)
	}
	models := map[string]*rmApp{}
	for _, n := range names {
		p := apps[n]
		models[n] = &rmApp{p: p, loc: mustLoad(t, p.Timezone), margin: max(margin, 0), lost: true}
	}
	var trace []string
	fail := func(format string, args ...any) {
		t.Helper()
		tail := trace
		if len(tail) > 25 {
			tail = tail[len(tail)-25:]
		}
		t.Fatalf("seed %d (replay: QUOTA_MODEL_SEED=%d), policies %+v, margin %s, start %s\nlast steps:\n  %s\nFAILURE: %s",
			seed, seed, apps, max(margin, 0), start.UTC().Format(time.RFC3339Nano), strings.Join(tail, "\n  "), fmt.Sprintf(format, args...))
	}
	stats := map[string]int{}
	for step := range modelSteps {
		now := clock.Now()
		app := names[rng.IntN(len(names))]
		m := models[app]
		g := guards[rng.IntN(len(guards))]
		loc := m.loc
		ts := func(x time.Time) string { return x.In(loc).Format("2006-01-02T15:04:05.000Z07:00") }
		op := rng.IntN(100)
		switch {
		case op < 40: // reserve, and claim (the ledger records the attempt at At)
			if m.lost {
				m.rebuild()
			}
			want := m.feasible(now)
			wh, wd := m.counts(now)
			res, err := g.Reserve(ctx, app)
			var nr *NoRoomError
			switch {
			case err == nil:
				trace = append(trace, fmt.Sprintf("%d %s reserve@%s -> reserved (hour %d day %d)", step, app, ts(now), res.HourUsed, res.DayUsed))
				if !want {
					fail("guard granted %s at %s; model: hour %d/%d day %d/%d blocked until %s: no room", app, ts(now), wh, m.p.Hourly, wd, m.p.Daily, ts(m.blocked))
				}
				if res.HourUsed != wh+1 || res.DayUsed != wd+1 {
					fail("reservation counts hour %d day %d, model %d %d", res.HourUsed, res.DayUsed, wh+1, wd+1)
				}
				m.entries = append(m.entries, rmEntry{at: now, id: res.ID})
				m.ledger = append(m.ledger, rmSend{at: now, resID: res.ID})
				m.live = append(m.live, res)
				store.set(app, m.ledger)
				stats["reserved"]++
				if msg := m.serviceCheck(); msg != "" {
					fail("service limits exceeded: %s", msg)
				}
			case errors.As(err, &nr):
				trace = append(trace, fmt.Sprintf("%d %s reserve@%s -> full by %s opens %s", step, app, ts(now), nr.By, ts(nr.OpensAt)))
				if want {
					fail("guard refused %s at %s (%v); model: hour %d/%d day %d/%d: room (a slot lost)", app, ts(now), nr, wh, m.p.Hourly, wd, m.p.Daily)
				}
				e := m.earliest(now)
				if !nr.OpensAt.After(now) {
					fail("no room at %s, opens at %s: not later", ts(now), ts(nr.OpensAt))
				}
				if !e.IsZero() && nr.OpensAt.After(e) {
					fail("no room at %s, opens at %s, but the model allows a reservation at %s", ts(now), ts(nr.OpensAt), ts(e))
				}
				if nr.HourUsed != wh || nr.DayUsed != wd {
					fail("no-room counts hour %d day %d, model %d %d", nr.HourUsed, nr.DayUsed, wh, wd)
				}
				stats["full"]++
			default:
				fail("Reserve: %v", err)
			}
		case op < 48: // release a live reservation (claim given back)
			if len(m.live) == 0 {
				continue
			}
			i := rng.IntN(len(m.live))
			res := m.live[i]
			m.live = slices.Delete(m.live, i, i+1)
			if err := g.Release(ctx, res); err != nil {
				fail("Release: %v", err)
			}
			m.ledger = slices.DeleteFunc(m.ledger, func(s rmSend) bool { return s.resID == res.ID })
			m.entries = slices.DeleteFunc(m.entries, func(e rmEntry) bool { return e.id == res.ID })
			store.set(app, m.ledger)
			trace = append(trace, fmt.Sprintf("%d %s release %s@%s", step, app, res.ID[:6], ts(res.At)))
			stats["release"]++
		case op < 52: // confirm: the send is final (nothing more to release)
			if len(m.live) > 0 {
				m.live = m.live[1:]
			}
		case op < 56: // held
			if len(m.live) == 0 {
				continue
			}
			res := m.live[rng.IntN(len(m.live))]
			held, err := g.Held(ctx, res)
			if err != nil {
				fail("Held: %v", err)
			}
			want := !m.lost && slices.ContainsFunc(m.entries, func(e rmEntry) bool { return e.id == res.ID })
			// Entries outside every window may have been trimmed, so only a
			// Held the model denies is wrong.
			if held && !want {
				fail("Held(%s@%s) = %v, model %v", res.ID[:6], ts(res.At), held, want)
			}
		case op < 60: // block or 429
			if rng.IntN(2) == 0 {
				until := now.Add(time.Duration(1+rng.Int64N(int64(3*time.Hour/time.Millisecond))) * time.Millisecond)
				if err := g.Block(ctx, app, until); err != nil {
					fail("Block: %v", err)
				}
				if until.After(m.blocked) {
					m.blocked = until
				}
				trace = append(trace, fmt.Sprintf("%d %s block until %s", step, app, ts(until)))
			} else {
				ra := time.Duration(rng.IntN(3)) * time.Duration(rng.Int64N(int64(2*time.Hour/time.Millisecond))) * time.Millisecond
				until, err := g.BlockRateLimited(ctx, app, ra)
				if err != nil {
					fail("BlockRateLimited: %v", err)
				}
				want := m.nextBoundary(now)
				if t2 := now.Add(ra); t2.After(want) {
					want = t2
				}
				if !until.Equal(want) {
					fail("BlockRateLimited at %s (retry-after %s) = %s, model %s", ts(now), ra, ts(until), ts(want))
				}
				if until.After(m.blocked) {
					m.blocked = until
				}
				trace = append(trace, fmt.Sprintf("%d %s 429 block until %s", step, app, ts(until)))
			}
			stats["block"]++
		case op < 64: // Redis loses everything
			switch rng.IntN(3) {
			case 0:
				if err := client.FlushAll(ctx).Err(); err != nil {
					fail("FLUSHALL: %v", err)
				}
				trace = append(trace, fmt.Sprintf("%d FLUSHALL", step))
			case 1:
				srv.Restart(t)
				trace = append(trace, fmt.Sprintf("%d restart redis", step))
			default:
				if err := g.Forget(ctx); err != nil {
					fail("Forget: %v", err)
				}
				trace = append(trace, fmt.Sprintf("%d Forget", step))
			}
			for _, mm := range models {
				mm.lost = true
			}
			stats["lost"]++
		case op < 68: // status
			st, err := g.Status(ctx, app)
			if err != nil {
				fail("Status: %v", err)
			}
			if m.lost {
				m.rebuild()
			}
			wh, wd := m.counts(now)
			if st.Hour.Used != wh || st.Day.Used != wd {
				fail("Status at %s: used hour %d day %d, model %d %d", ts(now), st.Hour.Used, st.Day.Used, wh, wd)
			}
			if e := m.earliest(now); !e.IsZero() && st.NextOpening.After(e) {
				fail("Status at %s: next opening %s, model allows %s", ts(now), ts(st.NextOpening), ts(e))
			}
			if m.feasible(now) != st.NextOpening.Equal(now) {
				fail("Status at %s: next opening %s, model feasible now: %v", ts(now), ts(st.NextOpening), m.feasible(now))
			}
		default: // clock steps
			var to time.Time
			switch k := rng.IntN(9); k {
			case 0:
				to = now.Add(time.Duration(1+rng.Int64N(300_000)) * time.Millisecond)
			case 1, 2:
				e := m.earliest(now)
				if e.IsZero() {
					continue
				}
				to = e.Add(time.Duration(rng.IntN(3)-1) * time.Millisecond) // -1ms, exact, +1ms
			case 3:
				if len(m.entries) == 0 {
					continue
				}
				e := m.entries[rng.IntN(len(m.entries))].at
				d := []time.Duration{time.Hour, 24 * time.Hour}[rng.IntN(2)] + m.margin
				to = e.Add(d + time.Duration(rng.IntN(3)-1)*time.Millisecond)
			case 4, 5:
				b := m.boundaries(now, now.Add(26*time.Hour))
				if len(b) == 0 {
					continue
				}
				x := b[rng.IntN(min(len(b), 4))]
				if rng.IntN(2) == 0 {
					_, x = m.dayBounds(now)
				}
				to = x.Add(time.Duration(rng.IntN(3)-1)*time.Millisecond - time.Duration(rng.IntN(2))*m.margin)
			case 6:
				to = now.Add(time.Duration(rng.Int64N(int64(7*time.Hour/time.Millisecond))) * time.Millisecond)
			default:
				to = now.Add(time.Duration(rng.Int64N(int64(20*time.Minute/time.Millisecond))) * time.Millisecond)
			}
			if !to.After(now) {
				continue
			}
			clock.Set(to)
			trace = append(trace, fmt.Sprintf("%d clock -> %s", step, ts(to)))
			stats["clock"]++
		}
	}
	t.Logf("seed %d: %d steps %v, policies %+v margin %s", seed, modelSteps, stats, apps, max(margin, 0))
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
		nr := b.mustBeFull(t, "main")
		if want := time.Date(2026, 6, 1, 11, 0, 0, 0, sh); !nr.OpensAt.Equal(want) {
			t.Errorf("opens at %s, want %s", nr.OpensAt, want)
		}
		// Scored at its next whole millisecond, 11:00:00.000, the slot also
		// counts in the 11:00 hour: its push reaches the service after
		// 11:00 and is counted there.
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
