package scheduler

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/queue"
)

func newAsynq(t testing.TB, rs *testenv.RedisServer) (*asynq.Client, *asynq.Inspector) {
	t.Helper()
	opt := asynq.RedisClientOpt{Addr: rs.Addr}
	c, in := asynq.NewClient(opt), asynq.NewInspector(opt)
	t.Cleanup(func() { _ = c.Close(); _ = in.Close() })
	return c, in
}

// registerQueue re-adds the queue to asynq:queues, which a FLUSHALL
// removed and which long-lived asynq clients do not add again (see the
// reconciler): the Inspector's list calls need it.
func registerQueue(t testing.TB, rs *testenv.RedisServer) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer func() { _ = c.Close() }()
	if err := c.SAdd(context.Background(), "asynq:queues", queue.DefaultQueue).Err(); err != nil {
		t.Fatal(err)
	}
}

// queuedRunIDs lists the run ids of every task in the queue, in any state.
func queuedRunIDs(t testing.TB, in *asynq.Inspector) []int64 {
	t.Helper()
	var ids []int64
	lists := []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		in.ListPendingTasks, in.ListScheduledTasks, in.ListActiveTasks, in.ListRetryTasks, in.ListArchivedTasks, in.ListCompletedTasks,
	}
	for _, list := range lists {
		for page := 1; ; page++ {
			tasks, err := list(queue.DefaultQueue, asynq.PageSize(500), asynq.Page(page))
			if err != nil {
				return ids // no queue yet
			}
			for _, ti := range tasks {
				p, err := queue.ParseRunSend(asynq.NewTask(ti.Type, ti.Payload))
				if err != nil {
					t.Fatal(err)
				}
				if ti.ID != queue.TaskID(p.RunID) {
					t.Errorf("task id %q for run %d", ti.ID, p.RunID)
				}
				ids = append(ids, p.RunID)
			}
			if len(tasks) < 500 {
				break
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// TestReplicasFireEachOnce races 2 and 3 schedulers, each with its own
// store handle and asynq client, on the same campaigns over 10 simulated
// minutes, on PostgreSQL and SQLite: every fire has exactly one Run and one
// task.
func TestReplicasFireEachOnce(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		for _, replicas := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/%d replicas", d.name, replicas), func(t *testing.T) {
				t.Parallel()
				testReplicas(t, d.url(t), replicas)
			})
		}
	}
}

func testReplicas(t *testing.T, url string, replicas int) {
	ctx := context.Background()
	rs := testenv.Redis(t)
	_, inspector := newAsynq(t, rs)
	start := utc("2026-12-01T08:59:00Z")
	end := start.Add(10 * time.Minute)
	const lookahead = 2 * time.Second

	setupStore := openStore(t, url)
	var campaigns []campaign.Campaign
	for i := range 36 {
		var s campaign.Schedule
		switch i % 3 {
		case 0:
			s = campaign.Schedule{Cron: "* * * * *", Timezone: "Europe/Berlin"}
		case 1:
			s = campaign.Schedule{Cron: "*/20 * * * * *", Missed: campaign.MissedSkip}
		default:
			at := start.Add(time.Duration(i) * 13 * time.Second)
			s = campaign.Schedule{At: &at}
		}
		campaigns = append(campaigns, create(t, setupStore, newCampaign(fmt.Sprintf("c%02d", i), s), start))
	}

	clock := newFakeClock(start)
	scheds := make([]*Scheduler, replicas)
	for i := range scheds {
		client, _ := newAsynq(t, rs)
		s, err := New(Config{Store: openStore(t, url), Queue: client, Clock: clock, Logger: zerolog.Nop(),
			Lookahead: lookahead, BatchSize: 5})
		if err != nil {
			t.Fatal(err)
		}
		scheds[i] = s
	}
	for at := start; !at.After(end); at = at.Add(7 * time.Second) {
		clock.Set(at)
		var wg sync.WaitGroup
		for _, s := range scheds {
			wg.Go(func() {
				if _, err := s.Tick(ctx); err != nil {
					t.Errorf("tick at %s: %v", at, err)
				}
			})
		}
		wg.Wait()
	}
	last := clock.Now()
	for _, s := range scheds { // release what is held for after the last tick
		s.releaseHeld(ctx, last.Add(time.Hour))
	}

	var runIDs []int64
	total := 0
	for _, c := range campaigns {
		var want []time.Time
		for from := start; ; {
			next, ok, err := c.Schedule.NextAfter(from)
			if err != nil {
				t.Fatal(err)
			}
			if !ok || next.After(last.Add(lookahead)) {
				break
			}
			want, from = append(want, next), next
		}
		runs := runsOf(t, setupStore, c.ID)
		if diff := cmp.Diff(want, scheduledFor(runs)); diff != "" {
			t.Errorf("campaign %d (%s) runs (-want +got):\n%s", c.ID, c.Schedule.Kind(), diff)
		}
		for _, r := range runs {
			runIDs = append(runIDs, r.ID)
			if r.EnqueuedAt == nil || r.EnqueuedAt.Before(r.ScheduledFor) {
				t.Errorf("run %d: enqueued %v for %s: want enqueued, never early", r.ID, r.EnqueuedAt, r.ScheduledFor)
			}
		}
		total += len(want)
	}
	slices.Sort(runIDs)
	if len(runIDs) != total || total < 300 {
		t.Errorf("%d runs, want %d (and a meaningful number)", len(runIDs), total)
	}
	if diff := cmp.Diff(runIDs, queuedRunIDs(t, inspector)); diff != "" {
		t.Errorf("queued tasks vs runs (-runs +tasks):\n%s", diff)
	}
}
