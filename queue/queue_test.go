package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/queue"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestTaskRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 123456000, time.FixedZone("CST", 8*3600))
	for _, want := range []queue.RunSendPayload{
		{RunID: 42},
		{RunID: 42, App: "main", ScheduledFor: at},
	} {
		task, err := queue.NewRunSendTask(want, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := queue.ParseRunSend(task)
		if err != nil {
			t.Fatal(err)
		}
		if p.RunID != want.RunID || p.App != want.App || !p.ScheduledFor.Equal(want.ScheduledFor) || p.Hinted() != (want.App != "") {
			t.Errorf("round trip of %+v = %+v (hinted %v)", want, p, p.Hinted())
		}
	}
	// A task of an earlier version, without hints, is still a task.
	p, err := queue.ParseRunSend(asynq.NewTask(queue.TypeRunSend, []byte(`{"run_id":7}`)))
	if err != nil || p.RunID != 7 || p.Hinted() {
		t.Errorf("unhinted payload = %+v, %v", p, err)
	}
	if got := queue.TaskID(42); got != "run:42" {
		t.Fatalf("TaskID = %q, want run:42", got)
	}
}

func TestRejectsBadInput(t *testing.T) {
	if _, err := queue.NewRunSendTask(queue.RunSendPayload{}, queue.Options{}); err == nil {
		t.Fatal("run id 0 accepted")
	}
	for name, task := range map[string]*asynq.Task{
		"wrong type":   asynq.NewTask("other", []byte(`{"run_id":1}`)),
		"not json":     asynq.NewTask(queue.TypeRunSend, []byte(`nope`)),
		"missing id":   asynq.NewTask(queue.TypeRunSend, []byte(`{}`)),
		"negative id":  asynq.NewTask(queue.TypeRunSend, []byte(`{"run_id":-3}`)),
		"string id":    asynq.NewTask(queue.TypeRunSend, []byte(`{"run_id":"7"}`)),
		"empty object": asynq.NewTask(queue.TypeRunSend, nil),
	} {
		if _, err := queue.ParseRunSend(task); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestEnqueueIsIdempotentAndSetsOptions uses a real Redis: the second enqueue
// of a run is refused by asynq's TaskID and reported as already enqueued, and
// the stored task carries the contract's options.
func TestEnqueueIsIdempotentAndSetsOptions(t *testing.T) {
	rs := testenv.Redis(t)
	opt := asynq.RedisClientOpt{Addr: rs.Addr}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = inspector.Close() })

	ctx := context.Background()
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	opts := queue.Options{Timeout: 1500 * time.Millisecond, MaxRetry: 0, Retention: time.Hour}

	enq, err := queue.Enqueue(ctx, client, queue.RunSendPayload{RunID: 7}, at, opts)
	if err != nil || !enq {
		t.Fatalf("first Enqueue = %v, %v; want true, nil", enq, err)
	}
	enq, err = queue.Enqueue(ctx, client, queue.RunSendPayload{RunID: 7}, time.Time{}, opts)
	if err != nil || enq {
		t.Fatalf("second Enqueue = %v, %v; want false, nil", enq, err)
	}

	info, err := inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(7))
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStateScheduled {
		t.Errorf("state = %v, want scheduled", info.State)
	}
	if !info.NextProcessAt.Equal(at) {
		t.Errorf("NextProcessAt = %v, want %v", info.NextProcessAt, at)
	}
	if info.MaxRetry < 1 {
		t.Errorf("MaxRetry = %d, want >= 1 so snoozes work", info.MaxRetry)
	}
	if info.Timeout != 2*time.Second {
		t.Errorf("Timeout = %v, want 2s (rounded up to whole seconds)", info.Timeout)
	}
	if info.Retention != time.Hour {
		t.Errorf("Retention = %v, want 1h", info.Retention)
	}
	if info.Type != queue.TypeRunSend {
		t.Errorf("Type = %q", info.Type)
	}
}
