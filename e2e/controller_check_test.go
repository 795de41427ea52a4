//go:build e2e

package e2e

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestStepperProbesEveryFireEarly guards the search for early sends. The
// stepper moves the simulated clock to the instants the system announces
// (next_run_at, scheduled_for, next_attempt_at, quota openings, leases),
// which land exactly on each fire: a send made early, while the run is
// already claimed within the scheduler's lookahead and held by a worker,
// happens at no instant the clock rests at and cannot be seen. The
// stepper must also rest at probes taken from the oracle's fires: for
// every fire after the start, some instant within the lookahead before it,
// and 1 ms before it. Here the system announces exactly the oracle's fires
// (its best case) and the stepper's path is replayed with stepper.next.
func TestStepperProbesEveryFireEarly(t *testing.T) {
	for name, sz := range sizes {
		sc := newScenario(t, rand.New(rand.NewPCG(42, 1)), sz.campaigns, t0, sz.horizon)
		var fires []time.Time
		for _, cs := range sc.campaigns {
			fires = append(fires, cs.Fires...)
		}
		sort.Slice(fires, func(i, j int) bool { return fires[i].Before(fires[j]) })
		s := &stepper{probes: probeInstants(sc, schedulerLookahead)}
		visited := []time.Time{sc.start}
		for now := sc.start; ; {
			next := s.next(world{now: now, events: fires}, time.Time{})
			if next.IsZero() {
				break
			}
			visited = append(visited, next)
			now = next
		}
		rested := func(at time.Time) bool {
			i := sort.Search(len(visited), func(i int) bool { return !visited[i].Before(at) })
			return i < len(visited) && visited[i].Equal(at)
		}
		var unprobed []string
		for _, f := range fires {
			if !f.After(sc.start) {
				continue // a fire at the start: the clock cannot rest before it
			}
			i := sort.Search(len(visited), func(i int) bool { return visited[i].After(f.Add(-schedulerLookahead)) })
			inLookahead := i < len(visited) && visited[i].Before(f)
			if !inLookahead || !rested(f.Add(-time.Millisecond)) || !rested(f) {
				unprobed = append(unprobed, f.Format(time.RFC3339Nano))
			}
		}
		if len(unprobed) > 0 {
			t.Errorf("%s: the clock never rests within the lookahead (%s) and 1 ms before %d of the %d fires, e.g. %s: an early send there cannot be seen",
				name, schedulerLookahead, len(unprobed), len(fires), strings.Join(unprobed[:min(3, len(unprobed))], ", "))
		}
		t.Logf("%s: %d fires, %d instants visited with %d probes", name, len(fires), len(visited), len(s.probes))
	}
}
