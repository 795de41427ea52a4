package quota

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fakeClock is the simulated clock tests advance.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeLedger is the store's send record, per app.
type fakeLedger struct {
	mu    sync.Mutex
	sent  map[string][]time.Time
	calls int
	err   error
}

func (l *fakeLedger) SentBetween(_ context.Context, app string, from, to time.Time) ([]time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.err != nil {
		return nil, l.err
	}
	var out []time.Time
	for _, t := range l.sent[app] {
		if !t.Before(from) && t.Before(to) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (l *fakeLedger) add(app string, ts ...time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent == nil {
		l.sent = map[string][]time.Time{}
	}
	l.sent[app] = append(l.sent[app], ts...)
}

func (l *fakeLedger) callCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// bundle is what a quota test needs.
type bundle struct {
	guard  *Guard
	clock  *fakeClock
	ledger *fakeLedger
	redis  *testenv.RedisServer
	client *redis.Client
	opts   Options
}

// setup starts a throwaway Redis and a Guard on it with a simulated clock
// at start. margin as Options.Margin.
func setup(t testing.TB, apps map[string]Policy, margin time.Duration, start time.Time) *bundle {
	t.Helper()
	srv := testenv.Redis(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = client.Close() })
	b := &bundle{clock: &fakeClock{t: start}, ledger: &fakeLedger{}, redis: srv, client: client}
	b.opts = Options{
		Client: client,
		Ledger: b.ledger,
		Apps:   apps,
		Prefix: "test:quota:",
		Margin: margin,
		Now:    b.clock.Now,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
	}
	g, err := New(b.opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	b.guard = g
	return b
}

// reserve calls Reserve and fails the test on anything but success or
// NoRoomError; it returns the reservation or the error.
func (b *bundle) reserve(t testing.TB, app string) (Reservation, *NoRoomError) {
	t.Helper()
	res, err := b.guard.Reserve(context.Background(), app)
	if err == nil {
		return res, nil
	}
	var nr *NoRoomError
	if !errors.As(err, &nr) {
		t.Fatalf("Reserve(%s) at %s: %v", app, b.clock.Now().UTC().Format(time.RFC3339), err)
	}
	if !errors.Is(err, ErrNoRoom) {
		t.Fatalf("errors.Is(%v, ErrNoRoom) = false", err)
	}
	return Reservation{}, nr
}

// mustReserve reserves at the clock's now and fails if there is no room.
func (b *bundle) mustReserve(t testing.TB, app string) Reservation {
	t.Helper()
	res, nr := b.reserve(t, app)
	if nr != nil {
		t.Fatalf("Reserve(%s) at %s: %v", app, b.clock.Now().UTC().Format(time.RFC3339), nr)
	}
	return res
}

// mustBeFull reserves at the clock's now and fails unless there is no room;
// it returns the answer (a value, so ignoring it is not an unchecked error).
func (b *bundle) mustBeFull(t testing.TB, app string) NoRoomError {
	t.Helper()
	res, nr := b.reserve(t, app)
	if nr == nil {
		t.Fatalf("Reserve(%s) at %s reserved %+v, want no room", app, b.clock.Now().UTC().Format(time.RFC3339), res)
	}
	return *nr
}

// entryScores reads app's reservation instants straight from Redis.
func (b *bundle) entryScores(t testing.TB, app string) []time.Time {
	t.Helper()
	zs, err := b.client.ZRangeWithScores(context.Background(), b.guard.keys(app).entries, 0, -1).Result()
	if err != nil {
		t.Fatalf("ZRANGE: %v", err)
	}
	out := make([]time.Time, 0, len(zs))
	for _, z := range zs {
		out = append(out, time.UnixMilli(int64(z.Score)))
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%s): %v", name, err)
	}
	return loc
}
