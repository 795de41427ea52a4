// Package quotaprobe is for harnesses that move a simulated clock from one
// quiet instant to the next (tests, benchmarks, the end-to-end run). A
// worker reserves an app's quota slot just before it claims the send: for
// that moment the slot is taken in Redis while no send is in flight, and a
// harness that moved the clock then would stamp the push in a later window
// than its reservation. Unclaimed finds such slots.
package quotaprobe

import (
	"context"
	"fmt"
	"time"

	"github.com/tagcast/tagcast/quota"
)

// Unclaimed is how many reservations of the current hour window of st (the
// guard's Status of one app, read first: a slot reserved after it and
// claimed before the ledger is read would count -1) are not in the ledger:
// slots reserved by workers that have not claimed their send yet, or that
// died before they did. margin must be the guard's (quota.DefaultMargin unless
// its Options set one). The count is exact while the clock stands still, as
// a simulated one does between moves: a reservation and its claim then
// carry the same instant.
func Unclaimed(ctx context.Context, st quota.Status, ledger quota.Ledger, margin time.Duration) (int, error) {
	// The guard counts a reservation from margin before the window's
	// start: inclusive for a fixed window, exclusive for a rolling one (its
	// oldest slot is free at that very millisecond).
	from := st.Hour.Start.Add(-margin)
	if st.Hour.Reset.IsZero() {
		from = from.Add(time.Millisecond)
	}
	sent, err := ledger.SentBetween(ctx, st.App, from, st.At.Add(time.Millisecond))
	if err != nil {
		return 0, fmt.Errorf("quotaprobe: app %s: %w", st.App, err)
	}
	return st.Hour.Used - len(sent), nil
}

// Unchanged re-reads app's windows and reports whether they hold as many
// slots as before, the status a harness read when its quiet check began
// (the one it gave Unclaimed). A harness moves the clock only then, right
// after this read: a slot reserved after before was read, and claimed after
// the harness counted the sends in flight, would otherwise go unseen, and a
// push made after the move would land an hour from its slot. A slot reserved after this read meets the
// move before its claim returns, and the worker gives it back (the
// reservation's UseBy).
func Unchanged(ctx context.Context, g *quota.Guard, app string, before quota.Status) (bool, error) {
	now, err := g.Status(ctx, app)
	if err != nil {
		return false, err
	}
	return now.Hour.Used == before.Hour.Used && now.Day.Used == before.Day.Used, nil
}
