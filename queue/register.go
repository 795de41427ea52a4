package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// AllQueuesKey is the Redis set in which asynq lists every queue it knows
// (asynq's internal base.AllQueues). The Inspector, and so the monitoring UI,
// answer "queue not found" for a queue missing from it.
const AllQueuesKey = "asynq:queues"

// Register adds queue name to asynq's set of queues. asynq's client adds a
// queue only the first time it enqueues on it and then remembers it did, so
// after a FLUSHALL or a restart of an embedded Redis the queue stays missing
// until that client is recreated. Register is idempotent: call it at start
// and on every reconcile pass.
func Register(ctx context.Context, rdb redis.UniversalClient, name string) error {
	if rdb == nil {
		return errors.New("queue: register: nil Redis client")
	}
	if name == "" {
		return errors.New("queue: register: empty queue name")
	}
	if err := rdb.SAdd(ctx, AllQueuesKey, name).Err(); err != nil {
		return fmt.Errorf("queue: register %s: %w", name, err)
	}
	return nil
}
