//go:build e2e

package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tagcast/tagcast/internal/quotaprobe"
	"github.com/tagcast/tagcast/quota"
)

// world is what the store and the guard say at one simulated instant: the
// work that can proceed now, and the instants at which more can.
type world struct {
	now          time.Time
	dueCampaigns int                     // active campaigns whose next_run_at has come: a scheduler must claim them
	inFlight     map[int64]time.Time     // send id → lease_until
	readyByApp   map[string]int          // sends of due open runs that may be attempted now (pending, or retry due)
	emptyRuns    int                     // due open runs with no open send: a worker must finish them
	openRuns     int                     // runs pending or running, due or not
	unqueued     int                     // open runs never handed to the queue
	blockedApps  map[string]time.Time    // apps with ready sends but no quota room: next opening
	unclaimed    map[string]int          // app → quota slots reserved whose send is not claimed yet (a worker is about to)
	quota        map[string]quota.Status // app → the guard's windows when the observation began
	events       []time.Time             // future instants at which something can proceed
}

// busy says what keeps the world from being settled at its instant, given
// the in-flight sends and the apps' unclaimed slots considered dead; ""
// when settled.
func (w world) busy(dead map[int64]bool, deadSlots map[string]bool) string {
	var why []string
	if w.dueCampaigns > 0 {
		why = append(why, fmt.Sprintf("%d due campaigns unclaimed", w.dueCampaigns))
	}
	live := 0
	for id := range w.inFlight {
		if !dead[id] {
			live++
		}
	}
	if live > 0 {
		why = append(why, fmt.Sprintf("%d sends in flight", live))
	}
	for app, n := range w.readyByApp {
		if _, blocked := w.blockedApps[app]; !blocked {
			why = append(why, fmt.Sprintf("%d sends of app %s ready with quota room", n, app))
		}
	}
	for app, n := range w.unclaimed {
		if !deadSlots[app] {
			why = append(why, fmt.Sprintf("%d quota slots of app %s reserved, their sends not claimed yet", n, app))
		}
	}
	if w.emptyRuns > 0 {
		why = append(why, fmt.Sprintf("%d due runs with every send settled but not finished", w.emptyRuns))
	}
	return strings.Join(why, "; ")
}

// next is the earliest future event (zero: none).
func (w world) next() time.Time {
	var n time.Time
	for _, e := range w.events {
		if e.After(w.now) && (n.IsZero() || e.Before(n)) {
			n = e
		}
	}
	return n
}

// observe reads the world at the simulated instant now.
func (c *cluster) observe(ctx context.Context, now time.Time) (world, error) {
	w := world{now: now, inFlight: map[int64]time.Time{}, readyByApp: map[string]int{}, blockedApps: map[string]time.Time{},
		unclaimed: map[string]int{}, quota: map[string]quota.Status{}}
	// A worker reserves its slot, then claims the send: every slot must be
	// seen claimed before the sends in flight are read, or a claim between
	// the two reads would be missed.
	for _, a := range c.opts.apps {
		st, err := c.guard.Status(ctx, a.Name)
		if err != nil {
			return w, fmt.Errorf("observe the quota of %s: %w", a.Name, err)
		}
		w.quota[a.Name] = st
		n, err := quotaprobe.Unclaimed(ctx, st, c.store, quota.DefaultMargin)
		if err != nil {
			return w, fmt.Errorf("observe unclaimed slots of %s: %w", a.Name, err)
		}
		if n > 0 {
			w.unclaimed[a.Name] = n
		}
	}
	db := c.store.DB()
	var nextRun, nextAttempt, nextScheduled sql.NullTime
	if err := db.QueryRowContext(ctx, `SELECT
		  (SELECT count(*) FROM campaigns WHERE status = 'active' AND next_run_at <= $1),
		  (SELECT min(next_run_at) FROM campaigns WHERE status = 'active' AND next_run_at > $1),
		  (SELECT min(s.next_attempt_at) FROM sends s WHERE s.status = 'retry_wait' AND s.next_attempt_at > $1),
		  (SELECT min(scheduled_for) FROM runs WHERE status IN ('pending', 'running') AND scheduled_for > $1),
		  (SELECT count(*) FROM runs WHERE status IN ('pending', 'running')),
		  (SELECT count(*) FROM runs WHERE status IN ('pending', 'running') AND enqueued_at IS NULL),
		  (SELECT count(*) FROM runs r WHERE r.status IN ('pending', 'running') AND r.scheduled_for <= $1
		     AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.run_id = r.id AND s.status IN ('pending', 'in_flight', 'retry_wait')))`,
		now).Scan(&w.dueCampaigns, &nextRun, &nextAttempt, &nextScheduled, &w.openRuns, &w.unqueued, &w.emptyRuns); err != nil {
		return w, fmt.Errorf("observe: %w", err)
	}
	for _, t := range []sql.NullTime{nextRun, nextAttempt, nextScheduled} {
		if t.Valid {
			w.events = append(w.events, t.Time.UTC())
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT id, lease_until FROM sends WHERE status = 'in_flight'`)
	if err != nil {
		return w, fmt.Errorf("observe in-flight sends: %w", err)
	}
	for rows.Next() {
		var id int64
		var lease sql.NullTime
		if err := rows.Scan(&id, &lease); err != nil {
			_ = rows.Close()
			return w, err
		}
		w.inFlight[id] = lease.Time.UTC()
	}
	if err := rows.Close(); err != nil {
		return w, err
	}
	rows, err = db.QueryContext(ctx, `SELECT s.app, count(*) FROM sends s JOIN runs r ON r.id = s.run_id
		WHERE r.status IN ('pending', 'running') AND r.scheduled_for <= $1
		  AND (s.status = 'pending' OR (s.status = 'retry_wait' AND s.next_attempt_at <= $1))
		GROUP BY s.app`, now)
	if err != nil {
		return w, fmt.Errorf("observe ready sends: %w", err)
	}
	for rows.Next() {
		var app string
		var n int
		if err := rows.Scan(&app, &n); err != nil {
			_ = rows.Close()
			return w, err
		}
		w.readyByApp[app] = n
	}
	if err := rows.Close(); err != nil {
		return w, err
	}
	for app := range w.readyByApp {
		st, err := c.guard.Status(ctx, app)
		if err != nil {
			return w, fmt.Errorf("observe quota of %s: %w", app, err)
		}
		if st.NextOpening.After(now) {
			w.blockedApps[app] = st.NextOpening
			w.events = append(w.events, st.NextOpening)
		}
	}
	return w, nil
}

// stepper moves the simulated clock from event to event.
type stepper struct {
	c *cluster
	// end: no fire is due at or after it; the clock goes on past it only
	// while runs are open (quota waits, retries), up to limit.
	end, limit time.Time
	// stepTimeout bounds the real time one instant may take to settle
	// (orphaned tasks of a killed worker come back after asynq's lease).
	stepTimeout time.Duration
	// deadAfter: a send in flight this long (real time) at one instant
	// belongs to a dead worker, and the clock may move past its lease; so
	// do an app's quota slots left reserved and unclaimed this long (the
	// worker died between its reservation and its claim).
	deadAfter time.Duration
	// onStep runs after each move (chaos); nil: nothing.
	onStep func(now time.Time)

	steps     int
	maxSettle time.Duration
	// unclaimedSeen: each app's unclaimed quota slots, since when (real
	// time), across instants.
	unclaimedSeen map[string]slotsSeen
}

// run moves the clock until the horizon is over and every run is settled.
func (s *stepper) run(ctx context.Context) error {
	firstSeen := map[int64]time.Time{}
	for {
		w, err := s.settle(ctx, firstSeen)
		if err != nil {
			return err
		}
		next := w.next()
		if dead := s.deadLeases(w, firstSeen); !dead.IsZero() && (next.IsZero() || dead.Before(next)) {
			next = dead
		}
		if w.openRuns == 0 && w.dueCampaigns == 0 && (next.IsZero() || !next.Before(s.end)) {
			return nil // the horizon is over and everything settled
		}
		if next.IsZero() {
			return fmt.Errorf("stuck at simulated %s: %d runs open, %d never enqueued, and nothing left to wait for (%s)",
				w.now.Format(time.RFC3339), w.openRuns, w.unqueued, s.c.describeOpen(ctx))
		}
		if next.After(s.limit) {
			return fmt.Errorf("still %d runs open at simulated %s, next event %s is past the limit %s: %s",
				w.openRuns, w.now.Format(time.RFC3339), next.Format(time.RFC3339), s.limit.Format(time.RFC3339), s.c.describeOpen(ctx))
		}
		// A slot reserved after the observation read the guard, and claimed
		// after it read the sends in flight, was seen by neither read.
		changed := false
		for app, st := range w.quota {
			same, err := quotaprobe.Unchanged(ctx, s.c.guard, app, st)
			if err != nil {
				return err
			}
			changed = changed || !same
		}
		if changed {
			continue
		}
		if err := s.c.clock.Set(next); err != nil {
			return err
		}
		s.steps++
		if s.onStep != nil {
			s.onStep(next)
		}
	}
}

// slotsSeen is how many unclaimed quota slots an app had, since when.
type slotsSeen struct {
	n     int
	since time.Time
}

// settle polls until the world is settled at the current instant (twice in
// a row), bounded by stepTimeout.
func (s *stepper) settle(ctx context.Context, firstSeen map[int64]time.Time) (world, error) {
	start := time.Now()
	settledOnce := false
	if s.unclaimedSeen == nil {
		s.unclaimedSeen = map[string]slotsSeen{}
	}
	unclaimedSeen := s.unclaimedSeen
	var last world
	var lastWhy string
	for {
		if err := ctx.Err(); err != nil {
			return last, err
		}
		if err := s.c.checkAlive(); err != nil {
			return last, err
		}
		w, err := s.c.observe(ctx, s.c.clock.Now())
		if err != nil {
			return w, err
		}
		dead := map[int64]bool{}
		for id := range w.inFlight {
			if _, ok := firstSeen[id]; !ok {
				firstSeen[id] = time.Now()
			}
			dead[id] = time.Since(firstSeen[id]) > s.deadAfter
		}
		for id := range firstSeen {
			if _, ok := w.inFlight[id]; !ok {
				delete(firstSeen, id)
			}
		}
		deadSlots := map[string]bool{}
		for app, n := range w.unclaimed {
			if seen, ok := unclaimedSeen[app]; !ok || seen.n != n {
				unclaimedSeen[app] = slotsSeen{n: n, since: time.Now()}
			}
			deadSlots[app] = time.Since(unclaimedSeen[app].since) > s.deadAfter
		}
		for app := range unclaimedSeen {
			if _, ok := w.unclaimed[app]; !ok {
				delete(unclaimedSeen, app)
			}
		}
		last, lastWhy = w, w.busy(dead, deadSlots)
		if lastWhy == "" {
			if settledOnce {
				s.maxSettle = max(s.maxSettle, time.Since(start))
				return w, nil
			}
			settledOnce = true
		} else {
			settledOnce = false
		}
		if time.Since(start) > s.stepTimeout {
			return w, fmt.Errorf("not settled within %s of real time at simulated %s: %s; %s",
				s.stepTimeout, w.now.Format(time.RFC3339), lastWhy, s.c.describeOpen(ctx))
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// deadLeases is the earliest lease end of an in-flight send held by a dead
// worker (zero: none): moving the clock there lets the survivors settle it.
func (s *stepper) deadLeases(w world, firstSeen map[int64]time.Time) time.Time {
	var out time.Time
	for id, lease := range w.inFlight {
		if time.Since(firstSeen[id]) <= s.deadAfter {
			continue
		}
		at := lease.Add(time.Millisecond)
		if at.After(w.now) && (out.IsZero() || at.Before(out)) {
			out = at
		}
	}
	return out
}

// describeOpen summarizes up to five open runs and their sends, for
// failure messages.
func (c *cluster) describeOpen(ctx context.Context) string {
	rows, err := c.store.DB().QueryContext(ctx, `SELECT r.id, r.campaign_id, r.app, r.scheduled_for, r.status, r.enqueued_at IS NOT NULL,
		  coalesce(string_agg(s.status || '/' || s.attempts || coalesce('/' || nullif(s.last_message, ''), ''), ', ' ORDER BY s.idx), '')
		FROM runs r LEFT JOIN sends s ON s.run_id = r.id
		WHERE r.status IN ('pending', 'running') GROUP BY r.id ORDER BY r.scheduled_for, r.id LIMIT 5`)
	if err != nil {
		return "open runs: " + err.Error()
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var id, cid int64
		var app, status, sends string
		var at time.Time
		var enq bool
		if err := rows.Scan(&id, &cid, &app, &at, &status, &enq, &sends); err != nil {
			return "open runs: " + err.Error()
		}
		out = append(out, fmt.Sprintf("run %d (campaign %d, app %s, for %s) %s enqueued=%v sends [%s]",
			id, cid, app, at.UTC().Format(time.RFC3339), status, enq, sends))
	}
	if len(out) == 0 {
		return "no open run"
	}
	return "open runs: " + strings.Join(out, "; ")
}
