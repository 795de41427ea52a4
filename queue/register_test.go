package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/queue"
)

// TestRegisterRestoresAQueueAfterFlush reproduces the "queue not found" of
// the Inspector after a FLUSHALL, while asynq's client still believes it
// registered the queue, and shows Register repairing it.
func TestRegisterRestoresAQueueAfterFlush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	client := asynq.NewClientFromRedisClient(rdb)
	inspector := asynq.NewInspectorFromRedisClient(rdb)

	if _, err := queue.Enqueue(ctx, client, queue.RunSendPayload{RunID: 1}, time.Time{}, queue.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := inspector.GetQueueInfo(queue.DefaultQueue); err != nil {
		t.Fatalf("queue info after the first enqueue: %v", err)
	}
	srv.Flush(t)
	// The client remembers the queue: enqueueing again does not re-add it.
	if _, err := queue.Enqueue(ctx, client, queue.RunSendPayload{RunID: 2}, time.Time{}, queue.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := inspector.GetQueueInfo(queue.DefaultQueue); err == nil {
		t.Fatal("asynq re-registered the queue by itself; Register may no longer be needed")
	}

	for range 2 { // idempotent
		if err := queue.Register(ctx, rdb, queue.DefaultQueue); err != nil {
			t.Fatal(err)
		}
	}
	info, err := inspector.GetQueueInfo(queue.DefaultQueue)
	if err != nil {
		t.Fatalf("queue info after Register: %v", err)
	}
	if info.Pending != 1 {
		t.Errorf("pending = %d, want 1 (run 2)", info.Pending)
	}
	names, err := inspector.Queues()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != queue.DefaultQueue {
		t.Errorf("queues = %q, want [%s]", names, queue.DefaultQueue)
	}
}

func TestRegisterRejectsBadInput(t *testing.T) {
	t.Parallel()
	if err := queue.Register(context.Background(), nil, "q"); err == nil {
		t.Error("nil client accepted")
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := queue.Register(context.Background(), rdb, ""); err == nil {
		t.Error("empty name accepted")
	}
}
