package quota

import (
	"context"
	"errors"
	"testing"
	"time"
)

// lineSetup is a guard whose line's places lapse on real, a clock of its
// own (the windows run on b.clock), with one slot an hour and room in the
// day, the hour already used at 09:00:00 Shanghai.
func lineSetup(t *testing.T, hourly int) (*bundle, *fakeClock) {
	t.Helper()
	start := at(t, "2026-06-01T09:00:00+08:00")
	b := setup(t, map[string]Policy{"main": {Hourly: hourly, Daily: 10, HourWindow: HourClock}}, NoMargin, start)
	realClock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	b.opts.RealNow = realClock.Now
	g, err := New(b.opts)
	if err != nil {
		t.Fatal(err)
	}
	b.guard = g
	for range hourly {
		b.mustReserve(t, "main")
	}
	return b, realClock
}

// ask is ReserveFor for w: nil when granted, else the refusal.
func (b *bundle) ask(t *testing.T, w Waiter) *NoRoomError {
	t.Helper()
	_, err := b.guard.ReserveFor(context.Background(), "main", w)
	if err == nil {
		return nil
	}
	var nr *NoRoomError
	if !errors.As(err, &nr) {
		t.Fatalf("ReserveFor(%s): %v", w.ID, err)
	}
	return nr
}

func (b *bundle) mustWait(t *testing.T, w Waiter, by Constraint) {
	t.Helper()
	if nr := b.ask(t, w); nr == nil || nr.By != by {
		t.Fatalf("ReserveFor(%s) at %s: %v, want a refusal by %s", w.ID, b.clock.Now().Format(time.RFC3339), nr, by)
	}
}

func (b *bundle) mustGet(t *testing.T, w Waiter) {
	t.Helper()
	if nr := b.ask(t, w); nr != nil {
		t.Fatalf("ReserveFor(%s) at %s: %v, want a slot", w.ID, b.clock.Now().Format(time.RFC3339), nr)
	}
}

// Two runs wait for the same opening: the one due first gets the slot,
// whichever asks first.
func TestLineServesTheEarliestDueFirst(t *testing.T) {
	t.Parallel()
	b, _ := lineSetup(t, 1)
	a := Waiter{ID: "run-a", Due: at(t, "2026-06-01T09:00:05+08:00")}
	later := Waiter{ID: "run-b", Due: at(t, "2026-06-01T09:00:06+08:00")}
	b.clock.Set(at(t, "2026-06-01T09:00:06+08:00"))
	b.mustWait(t, a, ConstraintHour)
	b.mustWait(t, later, ConstraintHour)

	b.clock.Set(at(t, "2026-06-01T10:00:00+08:00"))
	nr := b.ask(t, later)
	if nr == nil || nr.By != ConstraintLine || nr.Ahead != 1 || !nr.OpensAt.Equal(b.clock.Now()) {
		t.Fatalf("the later run asking first at the opening: %+v, want refused by the line with 1 ahead, opening now", nr)
	}
	b.mustGet(t, a)
	b.mustWait(t, later, ConstraintHour) // the hour is used again
	if got := b.inLine(t); len(got) != 1 || got[0] != later.ID {
		t.Fatalf("in line %v, want the later run only", got)
	}
	b.clock.Set(at(t, "2026-06-01T11:00:00+08:00"))
	b.mustGet(t, later)
	if got := b.inLine(t); len(got) != 0 {
		t.Fatalf("in line after both were served: %v, want nobody", got)
	}
}

// inLine lists the ids in main's line, first first.
func (b *bundle) inLine(t *testing.T) []string {
	t.Helper()
	ids, err := b.client.ZRange(context.Background(), b.guard.keys("main").line, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// A waiter with two sends due is due two slots: the one behind it waits
// until it has had both, even with room for two and asking first; the
// first grant keeps its place, needing one less.
func TestLineCountsWhatEachWaiterNeeds(t *testing.T) {
	t.Parallel()
	b, _ := lineSetup(t, 2)
	two := Waiter{ID: "two", Due: at(t, "2026-06-01T08:00:00+08:00"), Need: 2}
	one := Waiter{ID: "one", Due: at(t, "2026-06-01T08:10:00+08:00")}
	b.mustWait(t, two, ConstraintHour)
	b.mustWait(t, one, ConstraintHour)
	b.clock.Set(at(t, "2026-06-01T10:00:00+08:00"))
	b.mustWait(t, one, ConstraintLine)
	b.mustGet(t, two)
	b.mustWait(t, one, ConstraintLine) // one slot left, and it is two's
	two.Need = 1
	b.mustGet(t, two)
	b.mustWait(t, one, ConstraintHour)
	if got := b.inLine(t); len(got) != 1 || got[0] != one.ID {
		t.Fatalf("in line %v, want only the one-send waiter", got)
	}
	// Granted with room to spare and nobody ahead, a waiter needing more
	// takes its place for the rest.
	b.clock.Set(at(t, "2026-06-01T11:00:00+08:00"))
	many := Waiter{ID: "many", Due: at(t, "2026-06-01T07:00:00+08:00"), Need: 3}
	b.mustGet(t, many)
	b.mustWait(t, one, ConstraintLine)
}

// Runs due at the same instant go by id; with room for two, the third in
// line waits even when it asks first.
func TestLineTiesAndRoomForSeveral(t *testing.T) {
	t.Parallel()
	b, _ := lineSetup(t, 2)
	due := at(t, "2026-06-01T09:00:00+08:00")
	w1, w2, w3 := Waiter{ID: "0001", Due: due}, Waiter{ID: "0002", Due: due}, Waiter{ID: "0003", Due: due}
	for _, w := range []Waiter{w3, w2, w1} {
		b.mustWait(t, w, ConstraintHour)
	}
	b.clock.Set(at(t, "2026-06-01T10:00:00+08:00"))
	if nr := b.ask(t, w3); nr == nil || nr.By != ConstraintLine || nr.Ahead != 2 {
		t.Fatalf("third in line, room for two: %+v, want refused by the line with 2 ahead", nr)
	}
	b.mustGet(t, w2) // one ahead, room for two
	b.mustWait(t, w3, ConstraintLine)
	b.mustGet(t, w1)
	b.mustWait(t, w3, ConstraintHour)
}

// A place whose waiter never asks again (a killed worker) holds the room
// it is due for LineHold of real time, then lapses: the simulated clock of
// the windows need not move for it.
func TestLinePlaceLapsesInRealTime(t *testing.T) {
	t.Parallel()
	b, rc := lineSetup(t, 1)
	dead := Waiter{ID: "dead", Due: at(t, "2026-06-01T08:00:00+08:00")}
	live := Waiter{ID: "live", Due: at(t, "2026-06-01T08:30:00+08:00")}
	b.mustWait(t, dead, ConstraintHour)
	b.clock.Set(at(t, "2026-06-01T10:00:00+08:00"))
	rc.Advance(LineHold - time.Millisecond)
	b.mustWait(t, live, ConstraintLine)
	rc.Advance(time.Millisecond)
	b.mustGet(t, live)
}

// A waiter that will ask again within d says so (Queue) and keeps its
// place that long plus LineHold; Unqueue gives the place up at once.
func TestLineQueueAndUnqueue(t *testing.T) {
	t.Parallel()
	b, rc := lineSetup(t, 1)
	ctx := context.Background()
	first := Waiter{ID: "first", Due: at(t, "2026-06-01T08:00:00+08:00")}
	second := Waiter{ID: "second", Due: at(t, "2026-06-01T08:10:00+08:00")}
	third := Waiter{ID: "third", Due: at(t, "2026-06-01T08:20:00+08:00")}
	b.mustWait(t, first, ConstraintHour)
	if err := b.guard.Queue(ctx, "main", first, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	b.clock.Set(at(t, "2026-06-01T10:00:00+08:00"))
	rc.Advance(30*time.Second + LineHold - time.Millisecond)
	b.mustWait(t, third, ConstraintLine) // first's place lives on
	rc.Advance(time.Millisecond)
	if err := b.guard.Queue(ctx, "main", second, time.Minute); err != nil {
		t.Fatal(err)
	}
	b.mustWait(t, third, ConstraintLine) // first's lapsed, second's lives
	if err := b.guard.Unqueue(ctx, "main", second.ID); err != nil {
		t.Fatal(err)
	}
	b.mustGet(t, third)
	if err := b.guard.Queue(ctx, "main", Waiter{}, time.Minute); err == nil {
		t.Fatal("Queue of a waiter without an id: want an error")
	}
}

// Reserve (a caller outside the line: `push send`) takes room the line is
// due; the line's places stay.
func TestReserveOutsideTheLine(t *testing.T) {
	t.Parallel()
	b, _ := lineSetup(t, 1)
	w := Waiter{ID: "run", Due: at(t, "2026-06-01T08:00:00+08:00")}
	b.mustWait(t, w, ConstraintHour)
	b.clock.Set(at(t, "2026-06-01T10:00:00+08:00"))
	b.mustReserve(t, "main")
	b.mustWait(t, w, ConstraintHour)
}
