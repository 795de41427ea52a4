package quota

import (
	"context"
	"sync"
	"testing"
	"time"
)

// lossDuringRead loses Redis's state (here: the app's generation key, as a
// FLUSHALL would) during the first ledger read of a rebuild.
type lossDuringRead struct {
	inner *fakeLedger
	once  sync.Once
	lose  func()
}

func (l *lossDuringRead) SentBetween(ctx context.Context, app string, from, to time.Time) ([]time.Time, error) {
	out, err := l.inner.SentBetween(ctx, app, from, to)
	l.once.Do(l.lose)
	return out, err
}

// A rebuild whose state is lost again during its ledger read seeds nothing
// (seed.lua answers -1). Status rebuilds again, as Reserve does: it used to
// peek once more and report the still uninitialized windows as rebuilt and
// EMPTY (used 0, room now) while the ledger held a full hour. `tagcast quota
// status`, the admin API, the worker's remaining-quota gauges and
// quotaprobe.Unclaimed read it.
func TestStatusRebuildsAgainWhenARebuildSeededNothing(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC)
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3}}, NoMargin, start)
	b.ledger.add("main", start.Add(-20*time.Minute), start.Add(-10*time.Minute))
	g := b.guard
	k := g.keys("main")
	l := &lossDuringRead{inner: b.ledger, lose: func() { b.client.Del(context.Background(), k.generation) }}
	g.ledger = l
	st, err := g.Status(context.Background(), "main")
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Hour.Used != 2 || st.Hour.Remaining != 0 {
		t.Errorf("Status after a rebuild that seeded nothing: rebuilt=%v hour used %d remaining %d next opening %s; the ledger holds 2 sends in the hour (limit 2)",
			st.Rebuilt, st.Hour.Used, st.Hour.Remaining, st.NextOpening.UTC().Format(time.RFC3339))
	}
}
