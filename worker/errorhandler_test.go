package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/worker"
)

// TestErrorHandlerDoesNotPromiseARetryOfAnArchivedTask: the server's
// ErrorHandler (server.go NewServer) logged every failure as "run task failed:
// asynq retries it", at error level, whatever asynq does next. A task asynq
// archives instead (asynq.SkipRetry, as ProcessTask returns for a payload it
// cannot read; or the 26th failure, MaxRetry 25) is never retried by asynq:
// the line tells the operator the opposite of what happened, and says
// nothing of the archive (nor, for a run, that only a scheduler process's
// reconciler will give it a new task).
func TestErrorHandlerDoesNotPromiseARetryOfAnArchivedTask(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	logs := &testenv.Buffer{}
	srv, err := worker.NewServer(e.rdb, e.handler, worker.ServerConfig{Concurrency: 1, TaskCheckInterval: 20 * time.Millisecond},
		zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	c := asynq.NewClientFromRedisClient(e.rdb)
	// A payload this version cannot read: ProcessTask drops it (SkipRetry).
	if _, err := c.EnqueueContext(e.ctx, asynq.NewTask(queue.TypeRunSend, []byte(`{"run_id":"x"}`)),
		asynq.Queue(queue.DefaultQueue), asynq.TaskID("bad-payload"), asynq.MaxRetry(25)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Shutdown() }()
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := insp.GetTaskInfo(queue.DefaultQueue, "bad-payload")
		if err == nil && info.State == asynq.TaskStateArchived {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not archived within 20 s: %+v %v", info, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "asynq retries it") {
			t.Errorf("asynq archived the task (no retry), but the log says: %s", strings.TrimSpace(line))
		}
	}
	if !strings.Contains(logs.String(), "asynq archives it") {
		t.Errorf("asynq archived the task, and no log line says so:\n%s", logs.String())
	}
}
