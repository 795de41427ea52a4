package scheduler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
)

func TestTickHoldsRunsClaimedAheadUntilTheirInstant(t *testing.T) {
	t.Parallel()
	at := utc("2026-12-01T09:00:00Z")
	b := setup(t, at.Add(-time.Hour), Config{Interval: time.Second, ReleaseLead: -1}) // lookahead 2 s, released at the instant
	c := create(t, b.store, newCampaign("winter-sale", campaign.Schedule{At: &at}), b.clock.Now())

	if res := b.tickAt(t, at.Add(-2500*time.Millisecond)); res.Claimed != 0 {
		t.Fatalf("claimed %d campaigns 2.5 s ahead, want 0 (lookahead 2 s)", res.Claimed)
	}
	res := b.tickAt(t, at.Add(-1500*time.Millisecond))
	if res.Fired != 1 || res.Held != 1 || res.Enqueued != 0 || b.queue.len() != 0 {
		t.Fatalf("1.5 s ahead: %+v, %d tasks; want the run fired and held, nothing enqueued", res, b.queue.len())
	}
	if res := b.tickAt(t, at.Add(-time.Millisecond)); res.Enqueued != 0 || b.queue.len() != 0 {
		t.Fatalf("1 ms ahead: %+v; enqueued early", res)
	}
	if got := b.sched.nextWait(at.Add(-300 * time.Millisecond)); got != 300*time.Millisecond {
		t.Errorf("nextWait 300 ms before the held run = %s, want 300ms", got)
	}
	res = b.tickAt(t, at)
	runs := runsOf(t, b.store, c.ID)
	if res.Enqueued != 1 || len(runs) != 1 || !b.queue.has(runs[0].ID) {
		t.Fatalf("at the instant: %+v, runs %v; want the run enqueued", res, runs)
	}
	if !runs[0].ScheduledFor.Equal(at) || runs[0].EnqueuedAt == nil || !runs[0].EnqueuedAt.Equal(at) {
		t.Errorf("run = scheduled %s enqueued %v; want both %s", runs[0].ScheduledFor, runs[0].EnqueuedAt, at)
	}
	if pa := b.queue.tasks[runs[0].ID]; !pa.IsZero() {
		t.Errorf("ProcessAt = %s, want none (immediate)", pa)
	}
	// The task carries the run's app and instant: the worker's first claim
	// needs no read of the run.
	if p := b.queue.payloads[runs[0].ID]; p.App != runs[0].App || !p.ScheduledFor.Equal(at) {
		t.Errorf("task hints: app %q at %s; want %q at %s", p.App, p.ScheduledFor, runs[0].App, at)
	}
	if res := b.tickAt(t, at.Add(time.Second)); res != (TickResult{}) {
		t.Errorf("tick after the fire: %+v, want nothing", res)
	}
	got, err := b.store.Get(b.ctx, c.ID, campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaign.CampaignDone || got.NextRunAt != nil {
		t.Errorf("campaign after its one fire: %s next %v, want done, nil", got.Status, got.NextRunAt)
	}
}

// TestReleaseLead: by default a held run goes to the queue 500 ms before
// its instant (the worker waits the rest), not earlier.
func TestReleaseLead(t *testing.T) {
	t.Parallel()
	at := utc("2026-12-01T09:00:00Z")
	b := setup(t, at.Add(-time.Hour), Config{Interval: time.Second}) // lookahead 2 s, lead 500 ms
	c := create(t, b.store, newCampaign("winter-sale", campaign.Schedule{At: &at}), b.clock.Now())

	if res := b.tickAt(t, at.Add(-1500*time.Millisecond)); res.Held != 1 || res.Enqueued != 0 {
		t.Fatalf("1.5 s ahead: %+v; want the run held", res)
	}
	if got := b.sched.nextWait(at.Add(-900 * time.Millisecond)); got != 400*time.Millisecond {
		t.Errorf("nextWait 900 ms before the instant = %s, want 400ms (the release, 500 ms ahead)", got)
	}
	if res := b.tickAt(t, at.Add(-501*time.Millisecond)); res.Enqueued != 0 || b.queue.len() != 0 {
		t.Fatalf("501 ms ahead: %+v; released before the lead", res)
	}
	res := b.tickAt(t, at.Add(-500*time.Millisecond))
	runs := runsOf(t, b.store, c.ID)
	if res.Enqueued != 1 || len(runs) != 1 || !b.queue.has(runs[0].ID) {
		t.Fatalf("500 ms ahead: %+v, runs %v; want the run enqueued", res, runs)
	}
	if pa := b.queue.tasks[runs[0].ID]; !pa.IsZero() {
		t.Errorf("ProcessAt = %s, want none: the worker waits for the instant itself", pa)
	}

	// A campaign claimed already within the lead is enqueued at once.
	soon := at.Add(10 * time.Second)
	c2 := create(t, b.store, newCampaign("soon", campaign.Schedule{At: &soon}), b.clock.Now())
	if res := b.tickAt(t, soon.Add(-300*time.Millisecond)); res.Fired != 1 || res.Enqueued != 1 || res.Held != 0 {
		t.Errorf("claimed 300 ms ahead: %+v; want enqueued at once", res)
	}
	if r := runsOf(t, b.store, c2.ID); len(r) != 1 || !b.queue.has(r[0].ID) {
		t.Errorf("runs of the second campaign: %v, want one enqueued", r)
	}
}

func TestMissedFires(t *testing.T) {
	t.Parallel()
	created := utc("2026-12-01T08:00:00Z")
	at := utc("2026-12-01T09:00:00Z")
	tests := []struct {
		name      string
		sched     campaign.Schedule
		tickAt    string // the scheduler's first tick after downtime
		wantRuns  []time.Time
		wantState campaign.RunStatus // of the one run, if any
		wantNext  *time.Time
	}{
		{"cron skip drops three missed days", campaign.Schedule{Cron: "0 9 * * *", Missed: campaign.MissedSkip},
			"2026-12-04T11:00:00Z", nil, "", tp("2026-12-05T09:00:00Z")},
		{"cron once fires the latest missed occurrence once", campaign.Schedule{Cron: "0 9 * * *", Missed: campaign.MissedOnce},
			"2026-12-04T11:00:00Z", times("2026-12-04T09:00:00Z"), campaign.RunPending, tp("2026-12-05T09:00:00Z")},
		{"cron once past deliver_within ends expired", campaign.Schedule{Cron: "0 9 * * *", Missed: campaign.MissedOnce, DeliverWithin: time.Hour},
			"2026-12-04T11:00:00Z", times("2026-12-04T09:00:00Z"), campaign.RunExpired, tp("2026-12-05T09:00:00Z")},
		{"cron once within deliver_within is sent", campaign.Schedule{Cron: "0 9 * * *", Missed: campaign.MissedOnce, DeliverWithin: 4 * time.Hour},
			"2026-12-04T11:00:00Z", times("2026-12-04T09:00:00Z"), campaign.RunPending, tp("2026-12-05T09:00:00Z")},
		// One run for the whole missed day; the two after it are the next
		// fires, claimed ahead (lookahead 2 s) and held until their instant.
		{"per-second cron down a day: one run, no burst", campaign.Schedule{Cron: "* * * * * *", Missed: campaign.MissedOnce},
			"2026-12-02T08:00:00.5Z", times("2026-12-02T08:00:00Z", "2026-12-02T08:00:01Z", "2026-12-02T08:00:02Z"), campaign.RunPending, tp("2026-12-02T08:00:03Z")},
		{"skip: a fire only late, not missed, still fires", campaign.Schedule{Cron: "0 9 * * *", Missed: campaign.MissedSkip},
			"2026-12-01T09:00:30Z", times("2026-12-01T09:00:00Z"), campaign.RunPending, tp("2026-12-02T09:00:00Z")},
		{"at skip", campaign.Schedule{At: &at, Missed: campaign.MissedSkip}, "2026-12-01T12:00:00Z", nil, "", nil},
		{"at once", campaign.Schedule{At: &at, Missed: campaign.MissedOnce}, "2026-12-01T12:00:00Z", times("2026-12-01T09:00:00Z"), campaign.RunPending, nil},
		{"at once, deliver_within passed", campaign.Schedule{At: &at, Missed: campaign.MissedOnce, DeliverWithin: 2 * time.Hour},
			"2026-12-01T12:00:00Z", times("2026-12-01T09:00:00Z"), campaign.RunExpired, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, created, Config{})
			c := create(t, b.store, newCampaign("c", tt.sched), created)
			b.tickAt(t, utc(tt.tickAt))
			b.tickAt(t, utc(tt.tickAt).Add(100*time.Millisecond)) // a second tick changes nothing
			runs := runsOf(t, b.store, c.ID)
			if diff := cmp.Diff(tt.wantRuns, scheduledFor(runs), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
			if len(runs) > 0 {
				if runs[0].Status != tt.wantState {
					t.Errorf("run status %s, want %s", runs[0].Status, tt.wantState)
				}
				if enq := b.queue.has(runs[0].ID); enq != (tt.wantState == campaign.RunPending) {
					t.Errorf("run enqueued = %v, want %v", enq, !enq)
				}
			}
			got, err := b.store.Get(b.ctx, c.ID, campaign.RunsQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantNext, got.NextRunAt); diff != "" {
				t.Errorf("next_run_at (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStartEndWindow(t *testing.T) {
	t.Parallel()
	created := utc("2026-12-01T00:00:00Z")
	b := setup(t, created, Config{})
	c := create(t, b.store, newCampaign("window", campaign.Schedule{
		Cron: "0 9 * * *", Start: tp("2026-12-02T09:00:00Z"), End: tp("2026-12-04T09:00:00Z"),
	}), created)
	for at := created; at.Before(utc("2026-12-06T00:00:00Z")); at = at.Add(30 * time.Minute) {
		b.tickAt(t, at)
	}
	if diff := cmp.Diff(times("2026-12-02T09:00:00Z", "2026-12-03T09:00:00Z"), scheduledFor(runsOf(t, b.store, c.ID))); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
	got, err := b.store.Get(b.ctx, c.ID, campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaign.CampaignDone {
		t.Errorf("status %s after the end, want done", got.Status)
	}
}

// TestCronCampaignsAcrossDST ticks every 5 simulated minutes through both
// daylight saving changes of three zones.
func TestCronCampaignsAcrossDST(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tz, cron, from, to string
		want               []time.Time
	}{
		{"America/New_York", "30 2 * * *", "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z",
			times("2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z")},
		{"America/New_York", "30 1 * * *", "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z",
			times("2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z")},
		{"Europe/Berlin", "30 2 * * *", "2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z",
			times("2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z")},
		{"Europe/Berlin", "30 2 * * *", "2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z",
			times("2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z")},
		{"Australia/Sydney", "30 2 * * *", "2026-04-03T00:00:00Z", "2026-04-06T00:00:00Z",
			times("2026-04-03T15:30:00Z", "2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z")},
		{"Australia/Sydney", "30 2 * * *", "2026-10-02T00:00:00Z", "2026-10-05T00:00:00Z",
			times("2026-10-02T16:30:00Z", "2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.tz+" "+tt.from, func(t *testing.T) {
			t.Parallel()
			b := setup(t, utc(tt.from), Config{})
			c := create(t, b.store, newCampaign("dst", campaign.Schedule{Cron: tt.cron, Timezone: tt.tz}), utc(tt.from))
			for at := utc(tt.from); at.Before(utc(tt.to)); at = at.Add(5 * time.Minute) {
				b.tickAt(t, at)
			}
			runs := runsOf(t, b.store, c.ID)
			if diff := cmp.Diff(tt.want, scheduledFor(runs)); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
			for _, r := range runs {
				if !b.queue.has(r.ID) || r.EnqueuedAt == nil || r.EnqueuedAt.Before(r.ScheduledFor) {
					t.Errorf("run %d: enqueued %v for %s: want enqueued, never early", r.ID, r.EnqueuedAt, r.ScheduledFor)
				}
			}
		})
	}
}

// TestRunLoopWakesForHeldRuns drives Run with the simulated clock: it waits
// for the held run's instant rather than a whole interval, and enqueues what
// it still holds when stopped.
func TestRunLoopWakesForHeldRuns(t *testing.T) {
	t.Parallel()
	start := utc("2026-12-01T08:59:58.6Z")
	b := setup(t, start, Config{Interval: time.Second, Lookahead: 3 * time.Second, ReleaseLead: -1})
	first, second := utc("2026-12-01T09:00:00Z"), utc("2026-12-01T09:00:01.5Z")
	c1 := create(t, b.store, newCampaign("first", campaign.Schedule{At: &first}), start)
	c2 := create(t, b.store, newCampaign("second", campaign.Schedule{At: &second}), start)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- b.sched.Run(ctx) }()

	if at := b.clock.waitForWaiter(t); !at.Equal(start.Add(time.Second)) {
		t.Fatalf("first wait until %s, want %s (one interval)", at, start.Add(time.Second))
	}
	b.clock.Set(start.Add(time.Second)) // 08:59:59.6: a tick, the held run is 0.4 s away
	if at := b.clock.waitForWaiter(t); !at.Equal(first) {
		t.Fatalf("second wait until %s, want the held run's instant %s", at, first)
	}
	b.clock.Set(first)
	b.clock.waitForWaiter(t)
	r1 := runsOf(t, b.store, c1.ID)
	if len(r1) != 1 || !b.queue.has(r1[0].ID) {
		t.Fatalf("runs of the first campaign after its instant: %v, want one enqueued", r1)
	}
	wallBefore := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wallAfter := time.Now()
	r2 := runsOf(t, b.store, c2.ID)
	if len(r2) != 1 || !b.queue.has(r2[0].ID) {
		t.Fatalf("runs of the second campaign after Run stopped: %v, want one enqueued", r2)
	}
	// asynq schedules on the wall clock: the held run, 1.5 s away on the
	// scheduler's clock when it stopped, is due 1.5 s after the stop on the
	// wall clock, rounded up to asynq's whole second.
	wait := second.Sub(first)
	pa := b.queue.tasks[r2[0].ID]
	if lo, hi := wallBefore.Add(wait), campaign.CeilSecond(wallAfter.Add(wait)); pa.Before(lo) || pa.After(hi) || !pa.Equal(pa.Truncate(time.Second)) {
		t.Errorf("held run enqueued at stop with ProcessAt %s, want a whole second in [%s, %s]", pa, lo, hi)
	}
}

func TestNewRequiresStoreAndQueue(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{Queue: newRecordingQueue()}); err == nil {
		t.Error("no store accepted")
	}
	if _, err := New(Config{Store: openStore(t, "sqlite::memory:")}); err == nil {
		t.Error("no queue accepted")
	}
}

// refusingStore refuses, after planning, the claim of one campaign, as the
// store does with a next fire that would not advance next_run_at.
type refusingStore struct {
	campaign.Store
	refuse int64
	calls  *int // ClaimDue calls, when set
}

func (s refusingStore) ClaimDue(ctx context.Context, due, now time.Time, limit int, plan campaign.PlanFunc) ([]campaign.Run, error) {
	if s.calls != nil {
		*s.calls++
	}
	return s.Store.ClaimDue(ctx, due, now, limit, func(c campaign.Campaign, at time.Time) (campaign.FirePlan, error) {
		p, err := plan(c, at)
		if err == nil && c.ID == s.refuse {
			return campaign.FirePlan{}, errors.New("refused after planning")
		}
		return p, err
	})
}

// TestRefusedCampaignDoesNotSpinTheLoop: a campaign the store leaves
// unclaimed is neither counted as claimed nor a reason to claim again at
// once (Run would tick without pause and never get further), and it does
// not hold back the other due campaigns, even with a batch of one.
func TestRefusedCampaignDoesNotSpinTheLoop(t *testing.T) {
	t.Parallel()
	at := utc("2026-12-01T09:00:00Z")
	b := setup(t, at.Add(-time.Hour), Config{Interval: time.Second, BatchSize: 1})
	bad := create(t, b.store, newCampaign("refused", campaign.Schedule{At: &at}), b.clock.Now())
	later := at.Add(time.Second)
	good := create(t, b.store, newCampaign("fine", campaign.Schedule{At: &later}), b.clock.Now())
	s, err := New(Config{Store: refusingStore{Store: b.store, refuse: bad.ID}, Queue: b.queue, Clock: b.clock,
		Logger: zerolog.Nop(), Interval: time.Second, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Set(at.Add(2 * time.Second))
	res, err := s.Tick(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The refused campaign is due first; the good one still fires.
	if res.Claimed != 1 || res.Fired != 1 || res.Enqueued != 1 {
		t.Errorf("first tick: %+v; want the good campaign claimed, fired and enqueued past the refused one", res)
	}
	if r := runsOf(t, b.store, good.ID); len(r) != 1 || !b.queue.has(r[0].ID) {
		t.Errorf("runs of the good campaign: %v, want one enqueued", r)
	}
	res, err = s.Tick(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.More || res.Claimed != 0 {
		t.Errorf("tick with only the refused campaign due: %+v; want nothing claimed and no immediate retick", res)
	}
	if r := runsOf(t, b.store, bad.ID); len(r) != 0 {
		t.Errorf("the refused campaign has runs: %v", r)
	}
	// A batch that is not filled by claims does not call for another round,
	// however many refused campaigns the store looked past.
	third := at.Add(2 * time.Second)
	create(t, b.store, newCampaign("fine too", campaign.Schedule{At: &third}), b.clock.Now())
	b.clock.Set(at.Add(3 * time.Second))
	calls := 0
	s2, err := New(Config{Store: refusingStore{Store: b.store, refuse: bad.ID, calls: &calls}, Queue: b.queue, Clock: b.clock,
		Logger: zerolog.Nop(), Interval: time.Second, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res, err = s2.Tick(b.ctx); err != nil || res.Claimed != 1 || calls != 1 {
		t.Errorf("tick with one claim and one refusal in a batch of 2: %+v, %v, %d claim rounds; want 1 claimed in 1 round", res, err, calls)
	}
}

// With an interval longer than the default MissedAfter, a fire claimed at
// the tick after its instant was on time (the scheduler ran all along):
// interval 5m, a tick at 10:00, a one-off at 10:02 created meanwhile and
// claimed at 10:05 fires, even with missed: skip.
func TestMissedAfterOutlastsTheInterval(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Store: refusingStore{}, Queue: &recordingQueue{}, Interval: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	nextTick := tick.Add(s.nextWait(tick))
	at := time.Date(2026, 12, 1, 10, 2, 0, 0, time.UTC)
	c := campaign.Campaign{ID: 1, Schedule: campaign.Schedule{At: &at, Missed: campaign.MissedSkip}, NextRunAt: &at}
	var d Decision
	if _, err := Plan(nextTick, s.cfg.MissedAfter, func(x Decision) { d = x })(c, nextTick.Add(s.cfg.Lookahead)); err != nil {
		t.Fatal(err)
	}
	if !d.Fire || d.Missed {
		t.Errorf("next tick at %s (interval %s, missed_after %s): fire of %s decided Fire=%v Missed=%v; "+
			"want it fired (the scheduler was running all along)", nextTick.Format("15:04:05"), s.cfg.Interval,
			s.cfg.MissedAfter, at.Format("15:04:05"), d.Fire, d.Missed)
	}
}

// TestMissedOnceNextFireStandsForIt: after an outage, `missed: once`
// delivered the latest missed occurrence even when the next one was due
// seconds later: a daily announcement back at 08:59:59 pushed yesterday's
// 09:00 (deliver_within a day) and today's 09:00 a second apart, two of a
// 3-a-day quota for one announcement. A catch-up due within MissedAfter of
// the next fire is dropped; the next fire, on time, stands for it. One more
// than MissedAfter before the next fire, the catch-up is still delivered.
func TestMissedOnceNextFireStandsForIt(t *testing.T) {
	t.Parallel()
	created := utc("2026-12-01T08:00:00Z")
	sched := campaign.Schedule{Cron: "0 9 * * *", Missed: campaign.MissedOnce, DeliverWithin: 24 * time.Hour}
	tests := []struct {
		name     string
		back     string   // the first tick after the outage
		wantRuns []string // after ticks at back and at 09:00:00
	}{
		{"back within the lookahead of the next fire", "2026-12-03T08:59:59Z", []string{"2026-12-03T09:00:00Z"}},
		{"back 30 s before the next fire", "2026-12-03T08:59:30Z", []string{"2026-12-03T09:00:00Z"}},
		{"back exactly missed_after before the next fire", "2026-12-03T08:59:00Z", []string{"2026-12-03T09:00:00Z"}},
		{"back 61 s before the next fire: the catch-up is delivered", "2026-12-03T08:58:59Z",
			[]string{"2026-12-02T09:00:00Z", "2026-12-03T09:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, created, Config{})
			c := create(t, b.store, newCampaign("daily", sched), created)
			b.tickAt(t, utc("2026-12-01T09:00:00Z")) // the first fire, on time
			// Down from then until back.
			first := b.tickAt(t, utc(tt.back))
			b.tickAt(t, utc("2026-12-03T09:00:00Z"))
			b.tickAt(t, utc("2026-12-03T09:00:01Z"))
			runs := runsOf(t, b.store, c.ID)
			want := append(times("2026-12-01T09:00:00Z"), times(tt.wantRuns...)...)
			if diff := cmp.Diff(want, scheduledFor(runs)); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
			if superseded := len(tt.wantRuns) == 1; superseded && first.Skipped != 1 {
				t.Errorf("tick at %s: %+v; want the missed fire counted skipped", tt.back, first)
			}
			got, err := b.store.Get(b.ctx, c.ID, campaign.RunsQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if want := tp("2026-12-04T09:00:00Z"); !cmp.Equal(want, got.NextRunAt) {
				t.Errorf("next_run_at %v, want %v", got.NextRunAt, want)
			}
		})
	}
}
