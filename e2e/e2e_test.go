//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/pushapi/emulator"
)

// t0 is the simulated start: 23:00 in Shanghai (a calendar day of the
// quota turns an hour in), a few hours before the US spring-forward. It is
// in the real past, so asynq (which schedules on the wall clock) treats
// every simulated instant as due and the workers wait on the simulated
// clock themselves.
var t0 = time.Date(2026, 3, 7, 15, 0, 0, 0, time.UTC)

// size is one scenario size.
type size struct {
	campaigns int
	horizon   time.Duration
	// chaos lists the chaos events as fractions of the horizon.
	chaos []chaosStep
}

type chaosStep struct {
	at   float64
	kind string // kill-worker | kill-scheduler | kill-api | restart-redis | flush-redis
}

var sizes = map[string]size{
	"short": {campaigns: 60, horizon: 4 * time.Hour, chaos: []chaosStep{
		{0.15, "kill-worker"}, {0.3, "kill-scheduler"}, {0.4, "restart-redis"}, {0.5, "flush-redis"}, {0.65, "kill-api"},
	}},
	"full": {campaigns: 500, horizon: 24 * time.Hour, chaos: []chaosStep{
		{0.08, "kill-worker"}, {0.16, "kill-scheduler"}, {0.25, "kill-worker"}, {0.33, "restart-redis"},
		{0.42, "kill-scheduler"}, {0.5, "kill-api"}, {0.58, "kill-worker"}, {0.66, "flush-redis"},
		{0.75, "kill-scheduler"}, {0.85, "kill-worker"},
	}},
}

func pickSize(t *testing.T) (string, size) {
	t.Helper()
	s, ok := sizes[*sizeFlag]
	if !ok {
		t.Fatalf("-e2e.size=%q: must be short or full", *sizeFlag)
	}
	return *sizeFlag, s
}

func seed(t *testing.T) uint64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -e2e.seed=%d)", s, s)
	return s
}

// TestPipeline: 3 workers, 2 schedulers and 1 api process on one Redis and
// one PostgreSQL; the campaigns of a mixed scenario over the simulated
// horizon. Every due fire is sent exactly once, to exactly its audience,
// never early (the clock also rests just before every fire: probes), never
// held back while its app had room (LATE), the emulator never answers 429,
// every messageUID is recorded, no window is exceeded (the day windows
// bind: see newScenario).
func TestPipeline(t *testing.T) {
	name, sz := pickSize(t)
	rng := rand.New(rand.NewPCG(seed(t), 1))
	sc := newScenario(t, rng, sz.campaigns, t0, sz.horizon)
	r := startScenario(t, sc, emulator.Faults{})
	err := r.step(nil)
	r.finish(err)
	runs, sends := r.load()

	var p problems
	checkFires(&p, sc, r.ids, runs)
	checkRunOutcomes(&p, runs, sends)
	for _, run := range runs {
		if run.Status != "done" {
			p.add("NOT SENT: run %d of campaign %d for %s ended %s, want done", run.ID, run.CampaignID, run.ScheduledFor.Format(time.RFC3339), run.Status)
		}
	}
	for _, s := range sends {
		if s.Status != "sent" {
			p.add("NOT SENT: %s, want sent (no faults were injected)", s)
		}
	}
	rec, err := r.c.record(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	pipelineChecks(&p, sc, r.ids, rec, sends) // nothing is excused, nothing late while its app had room: no faults
	checkClaimants(&p, sends)
	r.checkProbed(&p)
	r.report(name, &p)
}

// TestChaos: the same harness with 20% emulator faults (500, 504, a stall
// with the push processed, a stall without, a connection reset), kill -9
// of workers, schedulers and the api (each restarted), Redis restarted
// empty and flushed. No run is lost, no push is duplicated, a send ends
// unknown only when its last call went unanswered or a killed worker
// held it in flight (those a worker died holding before its call are
// counted apart: "killed before the call"), and no window is exceeded.
// Chaos must have happened: every configured fault kind injected at least
// once, every chaos event of the size done, at least one process killed.
func TestChaos(t *testing.T) {
	name, sz := pickSize(t)
	rng := rand.New(rand.NewPCG(seed(t), 2))
	sc := newScenario(t, rng, sz.campaigns, t0, sz.horizon)
	faults := emulator.Faults{Error500: 0.05, Error504: 0.05, StallSent: 0.04, StallDropped: 0.03, Reset: 0.03,
		StallFor: emulator.Duration(3 * time.Second)}
	r := startScenario(t, sc, faults)

	// The sends the killed workers held in flight when they died: such a
	// send may end unknown (nobody can read the answer of its call).
	killed := newKillRecord()
	var done []string
	pending := append([]chaosStep(nil), sz.chaos...)
	onStep := func(now time.Time) {
		for len(pending) > 0 && !now.Before(sc.start.Add(time.Duration(pending[0].at*float64(sc.end.Sub(sc.start))))) {
			step := pending[0]
			pending = pending[1:]
			what := r.chaos(rng, step.kind, killed)
			done = append(done, fmt.Sprintf("%s at simulated %s: %s", step.kind, now.Format("15:04:05"), what))
			t.Logf("chaos: %s", done[len(done)-1])
		}
	}
	err := r.step(onStep)
	if len(pending) > 0 {
		t.Errorf("%d chaos events never happened (the horizon ended first): %v", len(pending), pending)
	}
	r.finish(err)
	runs, sends := r.load()

	var p problems
	checkFires(&p, sc, r.ids, runs)
	checkRunOutcomes(&p, runs, sends)
	statuses := map[string]int{}
	for _, s := range sends {
		statuses[s.Status]++
		if s.Status != "sent" && s.Status != "unknown" {
			p.add("NOT DELIVERED: %s, want sent (or unknown where unknowable)", s)
		}
	}
	rec, err := r.c.record(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	// Slots the stepper took as dead (reserved, never claimed, for
	// deadAfter of real time) stay counted by the guard for their window,
	// as a killed worker's do.
	keys := map[string]string{}
	for _, a := range sc.apps {
		keys[a.Name] = a.Key
	}
	for _, d := range r.st.deadSlotsSeen {
		for range d.n {
			killed.wasted[keys[d.app]] = append(killed.wasted[keys[d.app]], d.at)
		}
	}
	chaosChecks(&p, sc, r.ids, rec, sends, killed)
	checkUnansweredAccounted(&p, rec)
	checkClaimants(&p, sends)
	r.checkProbed(&p)
	// Chaos must have happened: every fault kind configured, every chaos
	// event of the size (pending above), and at least one kill.
	faultsSeen := r.faultTotals()
	for _, f := range checkFaultsHappened(faults, faultsSeen, done) {
		p.add("%s", f)
	}
	// The design accepts an unknown send a worker died holding before it
	// called (the system cannot know), but it is counted apart.
	beforeCall := killedBeforeCall(rec, sends, killed.heldAtKill)
	var beforeIDs []string
	for _, s := range beforeCall {
		beforeIDs = append(beforeIDs, fmt.Sprint(s.ID))
	}
	byHost, hops := hopsOf(rec)
	t.Logf("chaos events: %d (%v); sends by status %v; unknown sends killed before the call: %d %v; emulator faults %s; calls by host %v, fail-over hops %d",
		len(done), kindCounts(done), statuses, len(beforeCall), beforeIDs, describeFaults(faultsSeen), byHost, hops)
	r.report(name, &p)
}

// kindCounts counts the chaos events done by kind (each entry starts with
// its kind).
func kindCounts(done []string) map[string]int {
	out := map[string]int{}
	for _, d := range done {
		kind, _, _ := strings.Cut(d, " ")
		out[kind]++
	}
	return out
}

// minExpectedFaults is how many injections of a fault kind its rate must
// promise before checkFaultsHappened requires one: with 10 expected, a kind
// that never happens by chance has a probability of e^-10 (5 in 100,000); a
// short run makes too few calls to expect every kind.
const minExpectedFaults = 10

// faultSpread is how many standard deviations under its expected count a
// fault count may fall by chance (checkFaultsHappened).
const faultSpread = 4.5

// checkFaultsHappened says what chaos did not happen, so that TestChaos
// cannot pass without it: a fault kind whose configured rate promised at
// least minExpectedFaults injections over the calls made but that never
// happened, a kind or all faults together further under their configured
// rate than chance allows, or no kill among the events done.
func checkFaultsHappened(f emulator.Faults, seen emulator.Counters, done []string) []string {
	var out []string
	kinds := []struct {
		name string
		rate float64
		n    int
	}{
		{"500", f.Error500, seen.Fault500}, {"504", f.Error504, seen.Fault504}, {"stall_sent", f.StallSent, seen.StallSent},
		{"stall_dropped", f.StallDropped, seen.StallDropped}, {"reset", f.Reset, seen.ResetConn},
	}
	faults, rate := 0, 0.0
	for _, k := range kinds {
		faults += k.n
		rate += k.rate
	}
	// Every /push.json call draws once: it was answered, or it met a fault.
	calls := float64(faults + seen.Accepted + seen.RateLimited + seen.Unauthorized + seen.BadRequest + seen.NotEnabled + seen.NotAllowed)
	for _, k := range kinds {
		if expected := calls * k.rate; expected >= minExpectedFaults && k.n == 0 {
			out = append(out, fmt.Sprintf("NO CHAOS: the emulator fault %s (rate %.2f, %.0f expected over %.0f calls) never happened", k.name, k.rate, expected, calls))
		}
	}
	// The unanswered kinds together: each alone may be too rare for a short
	// run to promise one, but without any no send ever met an unknowable
	// outcome, the path "unknown only where unknowable" checks.
	if unanswered := f.StallSent + f.StallDropped + f.Reset; calls*unanswered >= minExpectedFaults &&
		seen.StallSent+seen.StallDropped+seen.ResetConn == 0 {
		out = append(out, fmt.Sprintf("NO CHAOS: no call went unanswered (stall_sent, stall_dropped, reset: %.0f expected over %.0f calls)", calls*unanswered, calls))
	}
	// Each kind, and all together, within chance of the configured rates:
	// a count more than faultSpread standard deviations under what the
	// rate promises over the calls made (a binomial's) is a wiring that
	// skips calls, not chance (about 3 in a million).
	short := func(n int, p float64) (float64, bool) {
		expected := calls * p
		return expected, expected >= minExpectedFaults && float64(n) < expected-faultSpread*math.Sqrt(expected*(1-p))
	}
	for _, k := range kinds {
		if expected, low := short(k.n, k.rate); low && k.n > 0 {
			out = append(out, fmt.Sprintf("NO CHAOS: the emulator fault %s on %d of %.0f calls, %.0f expected at rate %.2f", k.name, k.n, calls, expected, k.rate))
		}
	}
	if expected, low := short(faults, rate); rate > 0 && low {
		out = append(out, fmt.Sprintf("NO CHAOS: faults on %d of %.0f calls, %.0f expected at the %.0f%% configured", faults, calls, expected, rate*100))
	}
	kills := 0
	for kind, n := range kindCounts(done) {
		if strings.HasPrefix(kind, "kill-") {
			kills += n
		}
	}
	if kills == 0 {
		out = append(out, fmt.Sprintf("NO CHAOS: no process was killed (events: %v)", done))
	}
	return out
}

// scenarioRun is one scenario running on one cluster.
type scenarioRun struct {
	t     *testing.T
	sc    *scenario
	c     *cluster
	ids   map[string]int64
	st    *stepper
	start time.Time
}

func startScenario(t *testing.T, sc *scenario, faults emulator.Faults) *scenarioRun {
	t.Helper()
	fires, sends := sc.totals()
	t.Logf("scenario: %d campaigns, %d fires, %d sends over %s from %s; apps %+v",
		len(sc.campaigns), fires, sends, sc.end.Sub(sc.start), sc.start.Format(time.RFC3339), sc.apps)
	r := &scenarioRun{t: t, sc: sc, ids: map[string]int64{}, start: time.Now()}
	r.c = newCluster(t, clusterOptions{apps: sc.apps, start: sc.start, faults: faults, workers: 3, schedulers: 2, appTimeout: 2 * time.Second})
	api := r.c.start("api")
	r.c.waitAPI(api)
	for range r.c.opts.schedulers {
		r.c.start("scheduler")
	}
	for range r.c.opts.workers {
		r.c.start("worker")
	}
	ctx := t.Context()
	for _, cs := range sc.campaigns {
		f, err := cs.file()
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.c.admin.CreateCampaign(ctx, f, "application/json")
		if err != nil {
			t.Fatalf("create campaign %s (%s): %v", cs.Name, describeSchedule(cs), err)
		}
		r.ids[cs.Name] = got.ID
	}
	if now := r.c.clock.Now(); !now.Equal(sc.start) {
		t.Fatalf("the simulated clock moved while creating campaigns: %s", now)
	}
	t.Logf("created %d campaigns through the admin API in %s", len(sc.campaigns), time.Since(r.start).Round(time.Millisecond))
	return r
}

// overtime is how long past the horizon the clock may go while runs are
// open. A run due near the end may wait a day for its quota (dayroll's
// fourth send waits a rolling day), and in TestChaos every attempt a fault
// sends back to retry spends a slot of a day window too: a CI run once
// needed two more rolling days for two injected 504s. Quiet simulated days
// cost one step each.
const overtime = 30*time.Hour + 72*time.Hour

// step runs the clock over the horizon (and past it while runs are open).
func (r *scenarioRun) step(onStep func(time.Time)) error {
	r.st = &stepper{c: r.c, end: r.sc.end, limit: r.sc.end.Add(overtime),
		stepTimeout: 3 * time.Minute, deadAfter: 20 * time.Second, onStep: onStep,
		probes: probeInstants(r.sc, schedulerLookahead)}
	ctx, cancel := context.WithTimeout(r.t.Context(), 60*time.Minute)
	defer cancel()
	return r.st.run(ctx)
}

// finish stops the processes gracefully and reports a stepping failure.
func (r *scenarioRun) finish(stepErr error) {
	r.c.stopGracefully()
	if stepErr != nil {
		r.t.Errorf("the simulation did not complete: %v", stepErr)
	}
	r.t.Logf("simulated %s → %s in %d steps, %s of real time (slowest step settled in %s); %s",
		r.sc.start.Format(time.RFC3339), r.c.clock.Now().Format(time.RFC3339), r.st.steps,
		time.Since(r.start).Round(time.Second), r.st.maxSettle.Round(time.Millisecond), r.st.probe)
}

func (r *scenarioRun) load() ([]runRow, []sendRow) {
	r.t.Helper()
	runs, sends, err := r.c.loadRuns(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return runs, sends
}

func (r *scenarioRun) report(name string, p *problems) {
	r.t.Helper()
	var accepted int
	for _, a := range r.sc.apps {
		accepted += r.c.emu.Counters(a.Key).Accepted
	}
	r.t.Logf("size %s: %d pushes accepted by the emulator", name, accepted)
	if len(p.list) > 0 {
		r.t.Errorf("%d problems:\n%s", len(p.list), p)
	}
}

// checkProbed reports a search for early sends that did not happen: a
// probe of the scenario the clock never rested at, no run ever found in a
// worker's hands at one, or most probes giving up waiting for the runs
// they expected. Without probes no early send could have been seen; the
// check passed when the stepper rested at none (found by a review).
func (r *scenarioRun) checkProbed(p *problems) {
	st := r.st.probe
	due := 0
	for _, t := range r.st.probes {
		if t.Before(r.sc.end) {
			due++
		}
	}
	switch {
	case st.visited < due:
		p.add("PROBES VOID: the clock rested at %d of the scenario's %d probes: %s", st.visited, due, st)
	case st.held == 0:
		p.add("PROBES VOID: no run was ever in a worker's hands at a probe: %s", st)
	case st.missed*2 > st.visited:
		p.add("PROBES VOID: most probes gave up waiting for the runs they expected: %s", st)
	}
}

func describeFaults(c emulator.Counters) string {
	return fmt.Sprintf("500:%d 504:%d stall_sent:%d stall_dropped:%d reset:%d (accepted %d)",
		c.Fault500, c.Fault504, c.StallSent, c.StallDropped, c.ResetConn, c.Accepted)
}

func (r *scenarioRun) faultTotals() emulator.Counters {
	var total emulator.Counters
	for _, a := range r.sc.apps {
		c := r.c.emu.Counters(a.Key)
		total.Fault500 += c.Fault500
		total.Fault504 += c.Fault504
		total.StallSent += c.StallSent
		total.StallDropped += c.StallDropped
		total.ResetConn += c.ResetConn
		total.Accepted += c.Accepted
	}
	return total
}

// chaos does one chaos event and says what it did.
func (r *scenarioRun) chaos(rng *rand.Rand, kind string, killed *killRecord) string {
	c := r.c
	ctx := r.t.Context()
	victim := func(role string) *proc {
		procs := c.running(role)
		sort.Slice(procs, func(i, j int) bool { return procs[i].name < procs[j].name })
		if len(procs) == 0 {
			r.t.Fatalf("chaos %s: no %s running", kind, role)
		}
		return procs[rng.IntN(len(procs))]
	}
	switch kind {
	case "kill-worker":
		// Prefer a moment with a send in flight (up to 3 s of real time).
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if w, err := c.observe(ctx, c.clock.Now()); err == nil && len(w.inFlight) > 0 {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		p := victim("worker")
		claimant := claimantOf(p)
		c.kill(p)
		// What the dead worker held in flight: read once it is gone, and
		// again a second later, for a claim its last statement committed
		// after the kill. Only these sends may end unknown on its account
		// (a send it had settled unknown itself before dying is not).
		held, err := c.heldBy(ctx, claimant)
		if err != nil {
			r.t.Fatal(err)
		}
		c.start("worker")
		time.Sleep(time.Second)
		later, err := c.heldBy(ctx, claimant)
		if err != nil {
			r.t.Fatal(err)
		}
		n := killed.add(claimant, append(held, later...))
		// Slots the dead worker reserved and never claimed stay counted by
		// the guard for their window: the chaos lateness check counts them
		// (every slot unclaimed a second after the kill, conservatively,
		// at this instant, the latest it can have been reserved at).
		w, err := c.observe(ctx, c.clock.Now())
		if err != nil {
			r.t.Fatal(err)
		}
		wasted := 0
		for _, a := range r.sc.apps {
			for range w.unclaimed[a.Name] {
				killed.wasted[a.Key] = append(killed.wasted[a.Key], w.now)
				wasted++
			}
		}
		return fmt.Sprintf("killed %s (%s) holding %d sends in flight, %d quota slots unclaimed; restarted", p.name, claimant, n, wasted)
	case "kill-scheduler":
		p := victim("scheduler")
		c.kill(p)
		c.start("scheduler")
		return "killed " + p.name + "; restarted"
	case "kill-api":
		p := victim("api")
		c.kill(p)
		c.waitAPI(c.start("api"))
		return "killed " + p.name + "; restarted and ready"
	case "restart-redis":
		c.redis.Restart(r.t)
		return "Redis restarted empty on " + c.redis.Addr
	case "flush-redis":
		c.redis.Flush(r.t)
		return "FLUSHALL"
	}
	r.t.Fatalf("unknown chaos event %q", kind)
	return ""
}
