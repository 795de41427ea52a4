package scheduler

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/queue"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fakeClock is a simulated clock: time moves only by Set or Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	added   chan struct{} // a waiter was added
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock {
	return &fakeClock{now: t, added: make(chan struct{}, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	c.added <- struct{}{}
	return ch
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(t) {
			w.ch <- t
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// waitForWaiter blocks until some goroutine calls After, and returns the
// instant it waits for.
func (c *fakeClock) waitForWaiter(t *testing.T) time.Time {
	t.Helper()
	select {
	case <-c.added:
	case <-time.After(10 * time.Second):
		t.Fatal("no goroutine waited on the clock within 10 s")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiters[len(c.waiters)-1].at
}

// recordingQueue is a queue.Enqueuer that keeps tasks in memory and, like
// asynq, refuses a second task with the same id.
type recordingQueue struct {
	mu        sync.Mutex
	tasks     map[int64]time.Time // run id -> ProcessAt (zero: immediate)
	payloads  map[int64]queue.RunSendPayload
	calls     int
	failUntil int // the first failUntil calls fail
}

func newRecordingQueue() *recordingQueue {
	return &recordingQueue{tasks: map[int64]time.Time{}, payloads: map[int64]queue.RunSendPayload{}}
}

func (q *recordingQueue) EnqueueContext(_ context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.calls <= q.failUntil {
		return nil, errors.New("redis: connection refused")
	}
	p, err := queue.ParseRunSend(task)
	if err != nil {
		return nil, err
	}
	if _, ok := q.tasks[p.RunID]; ok {
		return nil, asynq.ErrTaskIDConflict
	}
	var at time.Time
	for _, o := range opts {
		if o.Type() == asynq.ProcessAtOpt {
			at = o.Value().(time.Time)
		}
	}
	q.tasks[p.RunID] = at
	q.payloads[p.RunID] = p
	return &asynq.TaskInfo{ID: queue.TaskID(p.RunID)}, nil
}

func (q *recordingQueue) has(runID int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.tasks[runID]
	return ok
}

func (q *recordingQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.tasks)
}

// openStore opens a fresh, migrated store at url.
func openStore(t testing.TB, url string) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

func sqliteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
}

// dialects are the databases the multi-replica tests run on.
var dialects = []struct {
	name string
	url  func(t testing.TB) string
}{
	{"postgres", func(t testing.TB) string { return testenv.Postgres(t) }},
	{"sqlite", sqliteURL},
}

// newCampaign is a valid campaign with schedule s.
func newCampaign(name string, s campaign.Schedule) campaign.Campaign {
	if s.Missed == "" {
		s.Missed = campaign.MissedOnce
	}
	return campaign.Campaign{
		App:  "main",
		Name: name,
		Push: pushapi.Request{
			Platform:     []string{"ios", "android"},
			FromUserID:   "system",
			Message:      &pushapi.Message{ObjectName: "AppNote", Content: "hi"},
			Audience:     pushapi.Audience{Tag: []string{"news"}},
			Notification: &pushapi.Notification{Alert: `{{.Vars.product}} at {{.FireTime.Format "15:04"}}`},
		},
		Schedule: s,
		Vars:     map[string]any{"product": "coat"},
		Status:   campaign.CampaignActive,
	}
}

// validated is c validated at now, as campaign.ParseFile leaves it: active,
// its first next_run_at set.
func validated(t testing.TB, c campaign.Campaign, now time.Time) campaign.Campaign {
	t.Helper()
	if err := campaign.Validate(&c, campaign.ValidateOptions{Now: now, Apps: []string{"main"}}); err != nil {
		t.Fatalf("validate %s: %v", c.Name, err)
	}
	return c
}

// create stores c with its first fire computed at now.
func create(t testing.TB, st campaign.Store, c campaign.Campaign, now time.Time) campaign.Campaign {
	t.Helper()
	first, ok, err := c.Schedule.FirstFire(now)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		c.NextRunAt = &first
	}
	out, err := st.Create(context.Background(), c, now)
	if err != nil {
		t.Fatalf("create %s: %v", c.Name, err)
	}
	return out
}

// runsOf returns every run of campaign id, oldest first.
func runsOf(t testing.TB, st campaign.Store, id int64) []campaign.Run {
	t.Helper()
	var out []campaign.Run
	q := campaign.RunsQuery{Limit: campaign.MaxRunsLimit}
	for {
		d, err := st.Get(context.Background(), id, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range d.Runs {
			out = append(out, r.Run)
		}
		if d.RunsNext == 0 {
			break
		}
		q.Before = d.RunsNext
	}
	slices.Reverse(out) // the store pages newest first
	return out
}

func scheduledFor(runs []campaign.Run) []time.Time {
	out := make([]time.Time, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.ScheduledFor)
	}
	return out
}

// bundle is what a single-scheduler test needs.
type bundle struct {
	ctx   context.Context
	clock *fakeClock
	store campaign.Store
	queue *recordingQueue
	sched *Scheduler
}

func setup(t testing.TB, start time.Time, cfg Config) bundle {
	t.Helper()
	b := bundle{ctx: context.Background(), clock: newFakeClock(start), store: openStore(t, sqliteURL(t)), queue: newRecordingQueue()}
	cfg.Store, cfg.Queue, cfg.Clock = b.store, b.queue, b.clock
	if cfg.Logger.GetLevel() == zerolog.DebugLevel { // zero value: keep tests quiet
		cfg.Logger = zerolog.Nop()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.sched = s
	return b
}

// tickAt moves the clock to at and ticks.
func (b bundle) tickAt(t testing.TB, at time.Time) TickResult {
	t.Helper()
	b.clock.Set(at)
	res, err := b.sched.Tick(b.ctx)
	if err != nil {
		t.Fatalf("tick at %s: %v", at, err)
	}
	return res
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func tp(s string) *time.Time {
	t := utc(s)
	return &t
}

func times(ss ...string) []time.Time {
	out := make([]time.Time, 0, len(ss))
	for _, s := range ss {
		out = append(out, utc(s))
	}
	return out
}

func newRedisForBench(t testing.TB) *testenv.RedisServer { return testenv.Redis(t) }
