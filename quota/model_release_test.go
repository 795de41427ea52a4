package quota

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// A rebuild reads the ledger first and seeds after. A claim given back
// between the two (its worker found the slot lost, or its UseBy passed:
// the store's row deleted, the reservation Released with its claim's name)
// used to be seeded from the read all the same: the slot stayed counted,
// with no push behind it, for its whole window (up to a day), and a
// reservation the service had room for was refused. (A wasted slot, never
// an over-quota.) The released set (release.lua) remembers the claim, and
// seed.lua skips it: after the seed the slot is free, whatever the order of
// the row's deletion and the Release, and whether the row goes before the
// seed or only after it.
func TestReleaseDuringRebuildReadFreesTheSlot(t *testing.T) {
	type order struct {
		name string
		// rowFirst: the row is deleted before the Release; rowLate: after
		// the seed (the Release comes during the stop either way).
		rowFirst, rowLate bool
	}
	orders := []order{
		{name: "ledger row deleted, then Release", rowFirst: true},
		{name: "Release, then ledger row deleted"},
		{name: "Release, ledger row deleted after the seed", rowLate: true},
	}
	for _, o := range orders {
		for _, op := range []string{"Status", "Reserve"} {
			t.Run(o.name+"/"+op, func(t *testing.T) {
				ctx := context.Background()
				now := at(t, "2026-06-01T12:00:00+08:00")
				b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 10}}, NoMargin, now)
				store := &modelStore{sent: map[string][]rmSend{}, blocks: map[string]time.Time{}}
				opts := b.opts
				opts.Ledger = store // an AttemptLedger: rebuilds seed claims under their names
				worker, err := New(opts)
				if err != nil {
					t.Fatal(err)
				}
				rebuilder, err := New(opts) // another process
				if err != nil {
					t.Fatal(err)
				}

				// Two claims in flight, both slots of the hour.
				a := must(t)(worker.Reserve(ctx, "main")).Claimed(7, 1)
				other := must(t)(worker.Reserve(ctx, "main")).Claimed(8, 1)
				rowA := rmSend{at: a.At, resID: a.ID, send: 7, claim: 1}
				rowOther := rmSend{at: other.At, resID: other.ID, send: 8, claim: 1}
				store.set("main", []rmSend{rowA, rowOther})

				// Redis loses its state; the other process's rebuild reads
				// the ledger (both claims) and stops before its seed.
				b.redis.Flush(t)
				pause := store.pauseNext("main")
				defer pause.resume()
				done := startCall(ctx, rebuilder, "main", op)
				select {
				case <-pause.read:
				case x := <-done:
					t.Fatalf("%s answered (%+v) without reading the ledger", op, x)
				case <-time.After(30 * time.Second):
					t.Fatal("no ledger read in 30 s")
				}

				// Meanwhile claim A is given back.
				if held, err := worker.Held(ctx, a); err != nil || held {
					t.Errorf("Held(A) during the rebuild = %v, %v; want false (no marker of this run)", held, err)
				}
				if o.rowFirst {
					store.set("main", []rmSend{rowOther})
				}
				if err := worker.Release(ctx, a); err != nil {
					t.Fatal(err)
				}
				if !o.rowFirst && !o.rowLate {
					store.set("main", []rmSend{rowOther})
				}

				// The rebuild seeds from its read.
				pause.resume()
				var x callAnswer
				select {
				case x = <-done:
				case <-time.After(30 * time.Second):
					t.Fatal("no answer 30 s after the ledger read resumed")
				}
				if o.rowLate {
					store.set("main", []rmSend{rowOther})
				}
				members := func() string {
					zs, _ := b.client.ZRange(ctx, worker.keys("main").entries, 0, -1).Result()
					return fmt.Sprint(zs)
				}
				wasted := fmt.Sprintf("claim A (send 7, claim 1) was given back (%s) while the rebuild stood between its ledger read and its seed, "+
					"and the seed counted it all the same: a slot with no push behind it, kept for its window (entries %s)", o.name, members())
				switch op {
				case "Status":
					if x.err != nil {
						t.Fatal(x.err)
					}
					if x.st.Hour.Used != 1 {
						t.Errorf("after the rebuild the hour counts %d (limit 2), want 1 (the other claim only): %s", x.st.Hour.Used, wasted)
					}
				case "Reserve":
					var nr *NoRoomError
					if errors.As(x.err, &nr) {
						t.Errorf("the rebuilding process's Reserve found no room (%v), want the slot claim A gave back: %s", nr, wasted)
					} else if x.err != nil {
						t.Fatal(x.err)
					}
				}
				if held, err := worker.Held(ctx, a); err != nil || held {
					t.Errorf("Held(A) after its Release = %v, %v; want false", held, err)
				}
				if held, err := worker.Held(ctx, other); err != nil || !held {
					t.Errorf("Held(other claim) after the rebuild = %v, %v; want true: the rebuild read it, under its claim's name", held, err)
				}
				// And the window holds exactly what the store holds: the
				// other claim (and the rebuilding process's reservation).
				want := 1
				if op == "Reserve" {
					want = 2
				}
				st, err := worker.Status(ctx, "main")
				if err != nil {
					t.Fatal(err)
				}
				if st.Hour.Used != want {
					t.Errorf("Status after the rebuild: hour %d, want %d: %s", st.Hour.Used, want, wasted)
				}
			})
		}
	}
}
