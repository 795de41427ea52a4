package worker

import (
	"context"
	"fmt"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/queue"
)

// Was: QueueCollector.read labels its gauges with every queue name found in
// Redis's asynq:queues set (not only tagcast's queue) and did so through
// prometheus.MustNewConstMetric, which panics on a label value that is not
// valid UTF-8. The read runs in a goroutine of scrapeReads.start with no
// recover: on a Redis shared with another asynq user whose queue set holds
// such a name, every /metrics scrape killed the whole process (with
// `serve`, the worker too, mid-send: its claimed sends became unknown), and
// again at the next scrape after every restart. Such a name is now counted
// as an error and skipped.
//
// The test calls read directly (in the test's goroutine, so that a panic
// can be recovered and reported).
func TestQueueCollectorSurvivesAQueueNameNotUTF8(t *testing.T) {
	t.Parallel()
	srv := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	if err := queue.Register(ctx, rdb, queue.DefaultQueue); err != nil {
		t.Fatal(err)
	}
	// Another asynq user's queue, its name not UTF-8.
	if err := rdb.SAdd(ctx, queue.AllQueuesKey, "jobs-\xff").Err(); err != nil {
		t.Fatal(err)
	}
	c := NewQueueCollector(asynq.NewInspectorFromRedisClient(rdb))
	var panicked any
	n := func() (n int) {
		defer func() { panicked = recover() }()
		return len(c.read())
	}()
	if panicked != nil {
		t.Fatalf("QueueCollector.read panicked on a queue name that is not UTF-8 (in production: in the scrape's goroutine, killing the process): %v",
			fmt.Sprint(panicked))
	}
	if n == 0 {
		t.Errorf("no queue statistics served; want tagcast's queue %q", queue.DefaultQueue)
	}
}
