//go:build e2e

package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/internal/quotaprobe"
	"github.com/tagcast/tagcast/queue"
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
	// probes are more instants to rest at, taken from the oracle's fires
	// (probeInstants), never from the system: the system announces only
	// the instants it will act at, so a send it makes too early, at an
	// instant it does not announce, would otherwise never be seen.
	probes []time.Time

	steps     int
	maxSettle time.Duration
	probe     probeStats
	// deadSlotsSeen lists the quota slots taken as dead (settle).
	deadSlotsSeen []deadSlot
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
		if isProbe(s.probes, w.now) && !s.probe.last.Equal(w.now) {
			// Hold the clock here until what the scheduler claims ahead is
			// in a worker's hands, then let the world settle again: a
			// worker that sends before the instant does so now, at a
			// simulated time before the fire (checkDeliveries: EARLY).
			s.probe.last = w.now
			if err := s.arm(ctx, w.now); err != nil {
				return err
			}
			continue
		}
		next := s.next(w, s.deadLeases(w, firstSeen))
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
		s.logLongWaits(ctx, w, next)
		if err := s.c.clock.Set(next); err != nil {
			return err
		}
		s.steps++
		if s.onStep != nil {
			s.onStep(next)
		}
	}
}

// logLongWaits logs, for a move of more than a minute, every app whose
// ready sends wait for its quota: the guard's counts beside the store's
// ledger, so that a wait the chaos lateness check reports can be read.
func (s *stepper) logLongWaits(ctx context.Context, w world, next time.Time) {
	if s.c == nil || next.Sub(w.now) <= time.Minute {
		return
	}
	for app, until := range w.blockedApps {
		st := w.quota[app]
		from := st.Hour.Start.Add(-quota.DefaultMargin)
		inHour, err := s.c.store.SentBetween(ctx, app, from, w.now.Add(time.Millisecond))
		if err != nil {
			s.c.t.Logf("stepper: ledger of %s: %v", app, err)
			continue
		}
		s.c.t.Logf("stepper: %s → %s: %d sends of app %s wait for its quota until %s (hour %d/%d from %s, ledger %d there; day %d/%d; blocked until %s)%s",
			w.now.Format(time.RFC3339Nano), next.Format(time.RFC3339Nano), w.readyByApp[app], app, until.Format(time.RFC3339Nano),
			st.Hour.Used, st.Hour.Limit, st.Hour.Start.Format(time.RFC3339), len(inHour), st.Day.Used, st.Day.Limit, st.BlockedUntil.Format(time.RFC3339),
			s.c.windowDiff(ctx, app, from, inHour))
	}
}

// windowDiff names the guard's Redis entries of app from from on that the
// ledger (sent) has no attempt at, and the ledger's that Redis lacks, by
// millisecond: what makes the guard and the store disagree.
func (c *cluster) windowDiff(ctx context.Context, app string, from time.Time, sent []time.Time) string {
	zs, err := c.rdb.ZRangeByScoreWithScores(ctx, quota.DefaultPrefix+"{"+app+"}:entries",
		&redis.ZRangeBy{Min: strconv.FormatInt(from.UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return "; redis: " + err.Error()
	}
	ms := func(t time.Time) int64 { return (t.UnixMicro() + 999) / 1000 }
	led := map[int64]int{}
	for _, t := range sent {
		led[ms(t)]++
	}
	var onlyRedis []string
	for _, z := range zs {
		k := int64(z.Score)
		if led[k] > 0 {
			led[k]--
			continue
		}
		onlyRedis = append(onlyRedis, fmt.Sprintf("%s@%s", z.Member, time.UnixMilli(k).UTC().Format("15:04:05.000")))
	}
	var onlyLedger []string
	for k, n := range led {
		for range n {
			onlyLedger = append(onlyLedger, time.UnixMilli(k).UTC().Format("15:04:05.000"))
		}
	}
	if len(onlyRedis) == 0 && len(onlyLedger) == 0 {
		return ""
	}
	return fmt.Sprintf("; only in Redis %v, only in the ledger %v", onlyRedis, onlyLedger)
}

// next is where the clock goes after w: the earliest of the system's next
// event, the next probe and dead (a dead worker's lease; zero: none).
func (s *stepper) next(w world, dead time.Time) time.Time {
	next := w.next()
	for _, t := range []time.Time{nextProbe(s.probes, w.now), dead} {
		if !t.IsZero() && t.After(w.now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// Probing for early sends. The scheduler claims a campaign up to its
// lookahead before the fire and hands the run to the queue at once (its
// release lead is longer), and a worker holds the task, waiting inline for
// the instant. The stepper rests at each probe for a fire f (f minus half
// the lookahead, and f minus 1 ms) until the run is in a worker's hands.
const (
	schedulerInterval  = 200 * time.Millisecond // scheduler.interval in the cluster's config
	schedulerLookahead = 2 * schedulerInterval  // scheduler.Config's default Lookahead
	// probeWait bounds the real time a probe waits for the runs it
	// expects claimed and in a worker (a killed scheduler, a flushed
	// Redis: the probe then goes on without them).
	probeWait = 2 * time.Second
	// probeDwell is the real time given to a worker at a probe to begin a
	// send it should not, before the world settles again.
	probeDwell = 30 * time.Millisecond
)

// probeInstants lists, sorted and unique, the probes for every fire of the
// scenario (the oracle's): f - lookahead/2 and f - 1 ms, after the start.
func probeInstants(sc *scenario, lookahead time.Duration) []time.Time {
	seen := map[time.Time]bool{}
	var out []time.Time
	for _, cs := range sc.campaigns {
		for _, f := range cs.Fires {
			for _, p := range []time.Time{f.Add(-lookahead / 2), f.Add(-time.Millisecond)} {
				if p.After(sc.start) && !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// nextProbe is the first probe after now (zero: none).
func nextProbe(probes []time.Time, now time.Time) time.Time {
	i := sort.Search(len(probes), func(i int) bool { return probes[i].After(now) })
	if i == len(probes) {
		return time.Time{}
	}
	return probes[i]
}

func isProbe(probes []time.Time, now time.Time) bool {
	i := sort.Search(len(probes), func(i int) bool { return !probes[i].Before(now) })
	return i < len(probes) && probes[i].Equal(now)
}

// probeStats counts what the probes found.
type probeStats struct {
	last    time.Time // the last probe armed
	visited int       // probes rested at
	held    int       // runs found in a worker's hands at a probe (a run counts at each probe)
	missed  int       // probes that gave up waiting (probeWait)
}

func (p probeStats) String() string {
	return fmt.Sprintf("%d probes before fires, %d times a run was in a worker's hands there, %d gave up waiting", p.visited, p.held, p.missed)
}

// arm waits, at the probe instant now, until every campaign due within the
// scheduler's lookahead is claimed and each of their runs is out of the
// queue (in a worker's hands), at most probeWait; then gives a worker
// probeDwell to misbehave.
func (s *stepper) arm(ctx context.Context, now time.Time) error {
	s.probe.visited++
	deadline := time.Now().Add(probeWait)
	for {
		a, err := s.c.ahead(ctx, now, schedulerLookahead)
		if err != nil {
			return err
		}
		if a.waiting() == "" {
			s.probe.held += a.held
			break
		}
		if time.Now().After(deadline) {
			s.probe.missed++
			s.probe.held += a.held
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(probeDwell)
	return nil
}

// aheadState is what is due within the lookahead after a probe instant.
type aheadState struct {
	unclaimed  int // active campaigns due within it, not claimed yet
	unreleased int // their runs not handed to the queue yet
	queued     int // their tasks waiting in the queue for a worker
	held       int // their tasks in a worker's hands
}

func (a aheadState) waiting() string {
	if a.unclaimed+a.unreleased+a.queued == 0 {
		return ""
	}
	return fmt.Sprintf("%d campaigns not claimed ahead, %d runs not released, %d tasks not picked up", a.unclaimed, a.unreleased, a.queued)
}

// ahead reads what is due in (now, now+lookahead].
func (c *cluster) ahead(ctx context.Context, now time.Time, lookahead time.Duration) (aheadState, error) {
	var a aheadState
	db := c.store.DB()
	until := now.Add(lookahead)
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM campaigns WHERE status = 'active' AND next_run_at > $1 AND next_run_at <= $2`,
		now, until).Scan(&a.unclaimed); err != nil {
		return a, fmt.Errorf("probe: campaigns ahead: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT id, enqueued_at IS NOT NULL FROM runs
		WHERE status IN ('pending', 'running') AND scheduled_for > $1 AND scheduled_for <= $2`, now, until)
	if err != nil {
		return a, fmt.Errorf("probe: runs ahead: %w", err)
	}
	var enqueued []int64
	for rows.Next() {
		var id int64
		var enq bool
		if err := rows.Scan(&id, &enq); err != nil {
			_ = rows.Close()
			return a, err
		}
		if enq {
			enqueued = append(enqueued, id)
		} else {
			a.unreleased++
		}
	}
	if err := rows.Close(); err != nil {
		return a, err
	}
	for _, id := range enqueued {
		info, err := c.inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(id))
		if err != nil {
			continue // gone (Redis flushed or restarted): the reconciler's, not the probe's
		}
		switch info.State {
		case asynq.TaskStatePending:
			a.queued++
		case asynq.TaskStateActive:
			a.held++
		}
	}
	return a, nil
}

// slotsSeen is how many unclaimed quota slots an app had, since when.
type slotsSeen struct {
	n        int
	since    time.Time
	reported bool // logged and recorded as dead (deadSlotsSeen)
}

// deadSlot: n quota slots of app left reserved and unclaimed at at.
type deadSlot struct {
	app string
	n   int
	at  time.Time
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
			if deadSlots[app] && !unclaimedSeen[app].reported {
				// A slot never claimed counts for its whole window: the
				// chaos lateness check must know why an app waited.
				seen := unclaimedSeen[app]
				seen.reported = true
				unclaimedSeen[app] = seen
				s.deadSlotsSeen = append(s.deadSlotsSeen, deadSlot{app: app, n: n, at: w.now})
				if s.c != nil {
					s.c.t.Logf("stepper: %d quota slots of app %s reserved and unclaimed for %s of real time at simulated %s: taken as dead",
						n, app, s.deadAfter, w.now.Format(time.RFC3339Nano))
				}
			}
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
