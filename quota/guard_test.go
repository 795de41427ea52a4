package quota

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// at parses an RFC 3339 instant.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestNextOpening(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy Policy
		margin time.Duration
		sent   []string // ledger sends (loaded by the rebuild)
		now    string
		want   string
		by     Constraint
	}{
		{
			name:   "rolling hour: oldest send plus one hour",
			policy: Policy{Hourly: 2, Daily: 10, HourWindow: HourRolling, DayWindow: DayCalendar, Timezone: "Asia/Shanghai"},
			sent:   []string{"2026-06-01T10:00:00+08:00", "2026-06-01T10:20:00+08:00"},
			now:    "2026-06-01T10:30:00+08:00", want: "2026-06-01T11:00:00+08:00", by: ConstraintHour,
		},
		{
			name:   "rolling hour with margin",
			policy: Policy{Hourly: 2, Daily: 10, HourWindow: HourRolling, DayWindow: DayCalendar, Timezone: "Asia/Shanghai"},
			margin: 10 * time.Second,
			sent:   []string{"2026-06-01T10:00:00+08:00", "2026-06-01T10:20:00+08:00"},
			now:    "2026-06-01T10:30:00+08:00", want: "2026-06-01T11:00:10+08:00", by: ConstraintHour,
		},
		{
			name:   "rolling hour over the limit (after a rebuild): enough sends must leave",
			policy: Policy{Hourly: 2, Daily: 10, HourWindow: HourRolling, DayWindow: DayCalendar, Timezone: "Asia/Shanghai"},
			sent:   []string{"2026-06-01T10:00:00+08:00", "2026-06-01T10:10:00+08:00", "2026-06-01T10:20:00+08:00", "2026-06-01T10:25:00+08:00"},
			now:    "2026-06-01T10:30:00+08:00", want: "2026-06-01T11:20:00+08:00", by: ConstraintHour,
		},
		{
			name:   "clock hour: next local hour",
			policy: Policy{Hourly: 2, Daily: 10, HourWindow: HourClock, DayWindow: DayCalendar, Timezone: "Asia/Shanghai"},
			sent:   []string{"2026-06-01T10:00:00+08:00", "2026-06-01T10:20:00+08:00"},
			now:    "2026-06-01T10:30:00+08:00", want: "2026-06-01T11:00:00+08:00", by: ConstraintHour,
		},
		{
			name:   "clock hour in a half-hour zone",
			policy: Policy{Hourly: 1, Daily: 10, HourWindow: HourClock, DayWindow: DayCalendar, Timezone: "Asia/Kolkata"},
			sent:   []string{"2026-06-01T10:05:00+05:30"},
			now:    "2026-06-01T10:40:00+05:30", want: "2026-06-01T11:00:00+05:30", by: ConstraintHour,
		},
		{
			name:   "calendar day: next local midnight",
			policy: Policy{Hourly: 2, Daily: 3, HourWindow: HourRolling, DayWindow: DayCalendar, Timezone: "Asia/Shanghai"},
			sent:   []string{"2026-06-01T08:00:00+08:00", "2026-06-01T09:00:00+08:00", "2026-06-01T10:00:00+08:00"},
			now:    "2026-06-01T12:00:00+08:00", want: "2026-06-02T00:00:00+08:00", by: ConstraintDay,
		},
		{
			name:   "calendar day ending with DST (New York falls back: a 25-hour day)",
			policy: Policy{Hourly: 2, Daily: 3, HourWindow: HourRolling, DayWindow: DayCalendar, Timezone: "America/New_York"},
			sent:   []string{"2026-11-01T00:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00"},
			now:    "2026-11-01T03:00:00-05:00", want: "2026-11-02T00:00:00-05:00", by: ConstraintDay,
		},
		{
			name:   "calendar day with DST (New York springs forward: a 23-hour day)",
			policy: Policy{Hourly: 3, Daily: 3, HourWindow: HourRolling, DayWindow: DayCalendar, Timezone: "America/New_York"},
			sent:   []string{"2026-03-08T00:10:00-05:00", "2026-03-08T00:20:00-05:00", "2026-03-08T03:30:00-04:00"},
			now:    "2026-03-08T05:00:00-04:00", want: "2026-03-09T00:00:00-04:00", by: ConstraintDay,
		},
		{
			name:   "rolling day: oldest send plus 24 hours",
			policy: Policy{Hourly: 2, Daily: 3, HourWindow: HourRolling, DayWindow: DayRolling, Timezone: "Asia/Shanghai"},
			sent:   []string{"2026-06-01T08:00:00+08:00", "2026-06-01T09:00:00+08:00", "2026-06-01T22:00:00+08:00"},
			now:    "2026-06-02T01:00:00+08:00", want: "2026-06-02T08:00:00+08:00", by: ConstraintDay,
		},
		{
			name:   "both full: the later one",
			policy: Policy{Hourly: 2, Daily: 4, HourWindow: HourRolling, DayWindow: DayRolling, Timezone: "Asia/Shanghai"},
			sent:   []string{"2026-06-01T08:00:00+08:00", "2026-06-01T09:00:00+08:00", "2026-06-01T23:10:00+08:00", "2026-06-01T23:20:00+08:00"},
			now:    "2026-06-01T23:30:00+08:00", want: "2026-06-02T08:00:00+08:00", by: ConstraintDay,
		},
		{
			name:   "both full: hour later than day",
			policy: Policy{Hourly: 2, Daily: 4, HourWindow: HourClock, DayWindow: DayCalendar, Timezone: "Asia/Shanghai"},
			sent:   []string{"2026-06-01T20:00:00+08:00", "2026-06-01T21:00:00+08:00", "2026-06-01T23:10:00+08:00", "2026-06-01T23:20:00+08:00"},
			now:    "2026-06-01T23:30:00+08:00", want: "2026-06-02T00:00:00+08:00", by: ConstraintHour,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			margin := tc.margin
			if margin == 0 {
				margin = NoMargin
			}
			b := setup(t, map[string]Policy{"main": tc.policy}, margin, at(t, tc.now))
			for _, s := range tc.sent {
				b.ledger.add("main", at(t, s))
			}
			nr := b.mustBeFull(t, "main")
			if want := at(t, tc.want); !nr.OpensAt.Equal(want) || nr.By != tc.by {
				t.Fatalf("opens at %s by %s, want %s by %s", nr.OpensAt.Format(time.RFC3339), nr.By, want.Format(time.RFC3339), tc.by)
			}
			b.clock.Set(nr.OpensAt.Add(-time.Millisecond))
			b.mustBeFull(t, "main")
			b.clock.Set(nr.OpensAt)
			b.mustReserve(t, "main")
		})
	}
}

func TestConcurrentReserveNeverOverReserves(t *testing.T) {
	t.Parallel()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 50, Daily: 70}}, NoMargin, now)
	// State missing at the start: the 200 goroutines also race on the rebuild.
	b.ledger.add("main", now.Add(-3*time.Hour), now.Add(-2*time.Hour)) // 2 of the day used

	const workers = 200
	var reserved, full atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := b.guard.Reserve(context.Background(), "main")
			switch {
			case err == nil:
				reserved.Add(1)
			case errors.Is(err, ErrNoRoom):
				full.Add(1)
			default:
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Reserve: %v", err)
	}
	if reserved.Load() != 50 || full.Load() != workers-50 {
		t.Fatalf("reserved %d, no room %d; want 50 and %d (hourly limit 50)", reserved.Load(), full.Load(), workers-50)
	}
	if n := len(b.entryScores(t, "main")); n != 52 {
		t.Fatalf("%d entries in Redis, want 50 reservations + 2 ledger sends", n)
	}

	// The next hour: only the day's remaining 70-52 = 18.
	b.clock.Advance(time.Hour)
	reserved.Store(0)
	var wg2 sync.WaitGroup
	for range workers {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			if _, err := b.guard.Reserve(context.Background(), "main"); err == nil {
				reserved.Add(1)
			}
		}()
	}
	wg2.Wait()
	if reserved.Load() != 18 {
		t.Fatalf("second hour: reserved %d, want 18 (daily limit 70)", reserved.Load())
	}
}

func TestRelease(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3}}, NoMargin, at(t, "2026-06-01T12:00:00+08:00"))
	ctx := context.Background()
	b.mustReserve(t, "main")
	second := b.mustReserve(t, "main")
	b.mustBeFull(t, "main")

	if err := b.guard.Release(ctx, second); err != nil {
		t.Fatal(err)
	}
	third := b.mustReserve(t, "main")
	if third.HourUsed != 2 || third.DayUsed != 2 {
		t.Fatalf("after a release: hour used %d, day used %d; want 2 and 2", third.HourUsed, third.DayUsed)
	}
	// Releasing twice gives nothing more back.
	if err := b.guard.Release(ctx, second); err != nil {
		t.Fatal(err)
	}
	b.mustBeFull(t, "main")
	if err := b.guard.Release(ctx, Reservation{App: "main"}); err == nil {
		t.Fatal("Release of an empty reservation: want an error")
	}
}

func TestBlock(t *testing.T) {
	t.Parallel()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3}, "other": {Hourly: 2, Daily: 3}}, NoMargin, now)
	ctx := context.Background()

	until, err := b.guard.BlockRateLimited(ctx, "main", 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(time.Hour); !until.Equal(want) {
		t.Fatalf("blocked until %s, want %s (rolling hour: now + 1h)", until, want)
	}
	nr := b.mustBeFull(t, "main")
	if !nr.OpensAt.Equal(until) || nr.By != ConstraintBlocked {
		t.Fatalf("opens at %s by %s, want %s by blocked", nr.OpensAt, nr.By, until)
	}
	b.mustReserve(t, "other") // blocks are per app

	// A shorter block does not shorten the one in force.
	if err := b.guard.Block(ctx, "main", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if nr := b.mustBeFull(t, "main"); !nr.OpensAt.Equal(until) {
		t.Fatalf("after a shorter block: opens at %s, want %s", nr.OpensAt, until)
	}
	// A Retry-After longer than the boundary wins.
	until2, err := b.guard.BlockRateLimited(ctx, "main", 3*time.Hour)
	if err != nil || !until2.Equal(now.Add(3*time.Hour)) {
		t.Fatalf("BlockRateLimited with Retry-After 3h = %s, %v; want %s", until2, err, now.Add(3*time.Hour))
	}

	// An absurd Retry-After (a date centuries ahead) is capped at a day and
	// an hour: the quota's longest window is a day.
	if capped, err := b.guard.BlockRateLimited(ctx, "other", time.Duration(math.MaxInt64)); err != nil || !capped.Equal(now.Add(25*time.Hour)) {
		t.Fatalf("BlockRateLimited with Retry-After of 292 years = %s, %v; want %s", capped, err, now.Add(25*time.Hour))
	}

	ttl, err := b.client.PTTL(ctx, b.guard.keys("main").blocked).Result()
	if err != nil || ttl <= 3*time.Hour-time.Minute || ttl > 3*time.Hour+2*time.Minute {
		t.Fatalf("blocked key TTL %s, %v; want about 3h", ttl, err)
	}
	b.clock.Set(until2.Add(-time.Millisecond))
	b.mustBeFull(t, "main")
	b.clock.Set(until2)
	b.mustReserve(t, "main")

	if err := b.guard.Block(ctx, "nope", until2); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("Block of an unknown app: %v, want ErrUnknownApp", err)
	}
}

func TestNextBoundary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy Policy
		now    string
		want   string
	}{
		{"rolling hour, calendar day", Policy{Hourly: 2, Daily: 3}, "2026-06-01T12:34:56+08:00", "2026-06-01T13:34:56+08:00"},
		{"rolling hour, midnight first", Policy{Hourly: 2, Daily: 3}, "2026-06-01T23:30:00+08:00", "2026-06-02T00:00:00+08:00"},
		{"clock hour", Policy{Hourly: 2, Daily: 3, HourWindow: HourClock}, "2026-06-01T12:34:56+08:00", "2026-06-01T13:00:00+08:00"},
		{"clock hour, half-hour zone", Policy{Hourly: 2, Daily: 3, HourWindow: HourClock, Timezone: "Asia/Kolkata"}, "2026-06-01T12:34:56+05:30", "2026-06-01T13:00:00+05:30"},
		{"rolling both", Policy{Hourly: 2, Daily: 3, DayWindow: DayRolling}, "2026-06-01T23:30:00+08:00", "2026-06-02T00:30:00+08:00"},
		{"DST fall-back: the repeated 1 o'clock hour", Policy{Hourly: 2, Daily: 3, HourWindow: HourClock, Timezone: "America/New_York"}, "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"},
		{"DST spring-forward: midnight of a 23-hour day", Policy{Hourly: 2, Daily: 3, Timezone: "America/New_York"}, "2026-03-08T23:30:00-04:00", "2026-03-09T00:00:00-04:00"},
	}
	for _, tc := range tests {
		got, err := tc.policy.NextBoundary(at(t, tc.now))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := at(t, tc.want); !got.Equal(want) {
			t.Errorf("%s: NextBoundary(%s) = %s, want %s", tc.name, tc.now, got.Format(time.RFC3339), tc.want)
		}
	}
}

func TestCalendarDayLength(t *testing.T) {
	t.Parallel()
	ny := mustLoad(t, "America/New_York")
	for _, tc := range []struct {
		day  string
		want time.Duration
	}{
		{"2026-03-08T12:00:00-04:00", 23 * time.Hour},
		{"2026-11-01T12:00:00-05:00", 25 * time.Hour},
		{"2026-06-01T12:00:00-04:00", 24 * time.Hour},
	} {
		start, next := calendarDay(at(t, tc.day), ny)
		if got := next.Sub(start); got != tc.want {
			t.Errorf("%s: day of %s, want %s", tc.day, got, tc.want)
		}
	}
}

func TestRebuildAfterStateLoss(t *testing.T) {
	t.Parallel()
	for _, loss := range []string{"flushall", "restart"} {
		t.Run(loss, func(t *testing.T) {
			t.Parallel()
			now := at(t, "2026-06-01T12:00:00+08:00")
			b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3}}, NoMargin, now)
			first := b.mustReserve(t, "main")
			if b.ledger.callCount() != 1 {
				t.Fatalf("ledger read %d times for the first reservation, want 1", b.ledger.callCount())
			}
			b.ledger.add("main", first.At) // the store records the send
			b.clock.Advance(10 * time.Minute)
			second := b.mustReserve(t, "main")
			b.ledger.add("main", second.At)
			if b.ledger.callCount() != 1 {
				t.Fatalf("ledger read again while Redis had the state")
			}

			switch loss {
			case "flushall":
				b.redis.Flush(t)
			case "restart":
				b.redis.Restart(t)
			}
			b.clock.Advance(10 * time.Minute)
			nr := b.mustBeFull(t, "main") // the rebuilt hour holds both sends
			if want := first.At.Add(time.Hour); !nr.OpensAt.Equal(want) || nr.HourUsed != 2 || nr.DayUsed != 2 {
				t.Fatalf("after %s: %+v; want opens at %s with 2 used in both windows", loss, nr, want)
			}
			if b.ledger.callCount() != 2 {
				t.Fatalf("ledger read %d times, want 2 (one rebuild)", b.ledger.callCount())
			}
			b.clock.Set(first.At.Add(time.Hour))
			third := b.mustReserve(t, "main")
			if third.DayUsed != 3 {
				t.Fatalf("day used %d, want 3", third.DayUsed)
			}
			b.clock.Set(second.At.Add(time.Hour))
			if nr := b.mustBeFull(t, "main"); nr.By != ConstraintDay {
				t.Fatalf("no room by %s, want day (3 a day)", nr.By)
			}
		})
	}
}

func TestRebuildLedgerError(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3}}, NoMargin, at(t, "2026-06-01T12:00:00+08:00"))
	b.ledger.err = errors.New("database is down")
	_, err := b.guard.Reserve(context.Background(), "main")
	if err == nil || !strings.Contains(err.Error(), "database is down") || !strings.Contains(err.Error(), "app main") {
		t.Fatalf("Reserve with a failing ledger: %v; want the ledger error with the app", err)
	}
	if n := len(b.entryScores(t, "main")); n != 0 {
		t.Fatalf("%d entries reserved without a rebuild", n)
	}
}

func TestConcurrentRebuildSeedsOnce(t *testing.T) {
	t.Parallel()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 10, Daily: 10}}, NoMargin, now)
	b.ledger.add("main", now.Add(-time.Hour), now.Add(-30*time.Minute))
	r, _ := b.guard.policy("main")
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.guard.rebuild(context.Background(), "main", r, now); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// A rebuild after the marker is set must not wipe reservations.
	b.mustReserve(t, "main")
	if err := b.guard.rebuild(context.Background(), "main", r, now); err != nil {
		t.Fatal(err)
	}
	if n := len(b.entryScores(t, "main")); n != 3 {
		t.Fatalf("%d entries, want the 2 ledger sends and 1 reservation", n)
	}
}

func TestAppsAreIndependent(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]Policy{"a": {Hourly: 1, Daily: 1}, "b": {Hourly: 2, Daily: 2}}, NoMargin, at(t, "2026-06-01T12:00:00+08:00"))
	b.mustReserve(t, "a")
	b.mustBeFull(t, "a")
	b.mustReserve(t, "b")
	b.mustReserve(t, "b")
	b.mustBeFull(t, "b")
	if _, err := b.guard.Reserve(context.Background(), "c"); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("Reserve of an unconfigured app: %v, want ErrUnknownApp", err)
	}
}

func TestPrefixesIsolateGuards(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]Policy{"main": {Hourly: 1, Daily: 1}}, NoMargin, at(t, "2026-06-01T12:00:00+08:00"))
	opts := b.opts
	opts.Prefix = "other-deployment:"
	other, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.mustReserve(t, "main")
	if _, err := other.Reserve(context.Background(), "main"); err != nil {
		t.Fatalf("a Guard with another prefix shares state: %v", err)
	}
}

func TestKeysExpireAndOldEntriesAreTrimmed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 5, Daily: 50}}, NoMargin, now)
	k := b.guard.keys("main")
	b.mustReserve(t, "main")
	entries, err := b.client.PTTL(ctx, k.entries).Result()
	if err != nil || entries <= 27*time.Hour || entries > b.guard.keep {
		t.Fatalf("entries TTL %s, %v; want more than the longest window (a 27-hour calendar day), at most %s", entries, err, b.guard.keep)
	}
	marker, err := b.client.PTTL(ctx, k.marker).Result()
	if err != nil || marker <= entries {
		t.Fatalf("marker TTL %s, %v; want longer than the entries' %s", marker, err, entries)
	}
	// Two days later the old entry is outside every window and removed.
	b.clock.Advance(49 * time.Hour)
	b.mustReserve(t, "main")
	if got := b.entryScores(t, "main"); len(got) != 1 || !got[0].Equal(b.clock.Now()) {
		t.Fatalf("entries %v, want only the reservation at %s", got, b.clock.Now())
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := at(t, "2026-06-01T12:30:00+08:00")
	sh := mustLoad(t, "Asia/Shanghai")
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3, HourWindow: HourClock}}, NoMargin, now)
	b.ledger.add("main", at(t, "2026-06-01T09:00:00+08:00"), at(t, "2026-06-01T12:10:00+08:00"))

	st, err := b.guard.Status(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	want := Status{
		App: "main", At: now, Timezone: "Asia/Shanghai", Rebuilt: true,
		Hour: WindowStatus{
			Mode: "clock", Limit: 2, Used: 1, Remaining: 1,
			Start: at(t, "2026-06-01T12:00:00+08:00"), Reset: at(t, "2026-06-01T13:00:00+08:00"), NextOpening: now,
		},
		Day: WindowStatus{
			Mode: "calendar", Limit: 3, Used: 2, Remaining: 1,
			Start: at(t, "2026-06-01T00:00:00+08:00").In(sh), Reset: at(t, "2026-06-02T00:00:00+08:00").In(sh), NextOpening: now,
		},
		NextOpening: now,
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatalf("Status (-want +got):\n%s", diff)
	}
	if n := len(b.entryScores(t, "main")); n != 2 {
		t.Fatalf("Status reserved something: %d entries, want the 2 ledger sends", n)
	}

	b.mustReserve(t, "main")
	until := now.Add(5 * time.Hour)
	if err := b.guard.Block(ctx, "main", until); err != nil {
		t.Fatal(err)
	}
	st, err = b.guard.Status(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if st.Rebuilt || st.Hour.Used != 2 || st.Hour.Remaining != 0 || !st.Hour.NextOpening.Equal(at(t, "2026-06-01T13:00:00+08:00")) ||
		st.Day.Remaining != 0 || !st.Day.NextOpening.Equal(at(t, "2026-06-02T00:00:00+08:00")) ||
		!st.BlockedUntil.Equal(until) || !st.NextOpening.Equal(at(t, "2026-06-02T00:00:00+08:00")) {
		t.Fatalf("Status after filling and blocking: %+v", st)
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	err := Policy{Hourly: 0, Daily: -1, HourWindow: "sliding", DayWindow: "week", Timezone: "Mars/Olympus"}.Validate("apps[0].quota")
	var pe *PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("Validate: %v, want *PolicyError", err)
	}
	want := []string{
		"apps[0].quota.hourly: must be at least 1, got 0",
		"apps[0].quota.daily: must be at least 1, got -1",
		`apps[0].quota.hour_window: must be "rolling" or "clock", got "sliding"`,
		`apps[0].quota.day_window: must be "calendar" or "rolling", got "week"`,
		`apps[0].quota.timezone: unknown time zone "Mars/Olympus"`,
	}
	if diff := cmp.Diff(want, pe.Problems); diff != "" {
		t.Fatalf("problems (-want +got):\n%s", diff)
	}
	if err := (Policy{Hourly: 2, Daily: 3}).Validate(""); err != nil {
		t.Fatalf("defaults filled in: %v", err)
	}
	if err := DefaultPolicy().Validate(""); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]Policy{"main": DefaultPolicy()}, NoMargin, time.Now())
	for name, mutate := range map[string]func(*Options){
		"no client":       func(o *Options) { o.Client = nil },
		"no ledger":       func(o *Options) { o.Ledger = nil },
		"negative margin": func(o *Options) { o.Margin = -5 * time.Second },
		"bad policy":      func(o *Options) { o.Apps = map[string]Policy{"x": {Hourly: 0, Daily: 1}} },
	} {
		o := b.opts
		mutate(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
}

// TestLateGrantIsReservedAgain: a reservation is stamped with the instant
// read before its script ran. When the script's answer comes back much
// later (here the clock moves two hours meanwhile, as a paused process or
// a simulated clock would see it), the slot would count in a window that
// has moved on while its push lands in the current one. Reserve gives it
// back and reserves at the current instant.
func TestLateGrantIsReservedAgain(t *testing.T) {
	t.Parallel()
	start := at(t, "2026-06-01T12:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 10}}, 0, start)
	ctx := context.Background()
	b.mustReserve(t, "main")

	later := start.Add(2 * time.Hour)
	reads := 0
	opts := b.opts
	opts.Now = func() time.Time { // the first read is stale; the clock has moved on after it
		reads++
		if reads == 1 {
			return start
		}
		return later
	}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Reserve(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if !res.At.Equal(later) {
		t.Errorf("reservation at %v, want %v (the instant it was granted at)", res.At, later)
	}
	// The default 10 s margin: a push may begin up to half of it after the
	// reservation, at most MaxUseBy.
	if want := later.Add(min(DefaultMargin/2, MaxUseBy)); !res.UseBy.Equal(want) {
		t.Errorf("reservation to be used by %v, want %v", res.UseBy, want)
	}
	b.clock.Set(later.Add(30 * time.Minute))
	st, err := b.guard.Status(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if st.Hour.Used != 1 {
		t.Errorf("half an hour after the late grant: hour used %d, want 1 (it counts where its push lands)", st.Hour.Used)
	}
}
