package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/queue"
)

// App and ScheduledFor are optional hints ("a wrong one only costs that
// read"): a hint that does not decode (a later version's encoding of
// scheduled_for, a number for app) is dropped, and the task is processed
// from the store. It used to reject the whole payload: the worker returned
// SkipRetry, asynq archived the task, and the run waited for the
// reconciler's revive, again at every pass during a rolling upgrade.
// run_id itself must still decode.
func TestUndecodableHintsAreDroppedNotTheTask(t *testing.T) {
	for name, payload := range map[string]string{
		"scheduled_for as unix seconds": `{"run_id":7,"app":"main","scheduled_for":1796115600}`,
		"scheduled_for not RFC 3339":    `{"run_id":7,"app":"main","scheduled_for":"2026-12-01 09:00:00"}`,
		"app as a number":               `{"run_id":7,"app":3,"scheduled_for":"2026-12-01T09:00:00Z"}`,
	} {
		p, err := queue.ParseRunSend(asynq.NewTask(queue.TypeRunSend, []byte(payload)))
		if err != nil || p.RunID != 7 {
			t.Errorf("%s: ParseRunSend(%s) = %+v, %v; want run 7 (unhinted), since the run id decodes", name, payload, p, err)
		}
		if p.Hinted() {
			t.Errorf("%s: hints kept: %+v", name, p)
		}
	}
	for _, payload := range []string{`{"run_id":"7"}`, `{"app":"main"}`, `not json`} {
		if p, err := queue.ParseRunSend(asynq.NewTask(queue.TypeRunSend, []byte(payload))); err == nil {
			t.Errorf("ParseRunSend(%s) = %+v, want an error: run_id must decode", payload, p)
		}
	}
	p, err := queue.ParseRunSend(asynq.NewTask(queue.TypeRunSend, []byte(`{"run_id":7,"app":"main","scheduled_for":"2026-12-01T09:00:00Z"}`)))
	if err != nil || !p.Hinted() || p.App != "main" {
		t.Errorf("well-formed hints: %+v, %v", p, err)
	}
}

// asynq keeps scheduled tasks by whole seconds (score = processAt.Unix(),
// floored) and forwards a task once that second has begun: Enqueue rounds a
// sub-second processAt up, so the task is never processable before it. It
// passed it through, up to 1 s early (the worker still waited, but only
// because flushHeld, the one caller with such instants, rounded itself).
func TestEnqueueProcessAtIsNeverEarly(t *testing.T) {
	rs := testenv.Redis(t)
	opt := asynq.RedisClientOpt{Addr: rs.Addr}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = inspector.Close() })

	at := time.Now().Add(time.Hour).Truncate(time.Second).Add(900 * time.Millisecond)
	if _, err := queue.Enqueue(context.Background(), client, queue.RunSendPayload{RunID: 9}, at, queue.Options{}); err != nil {
		t.Fatal(err)
	}
	info, err := inspector.GetTaskInfo(queue.DefaultQueue, queue.TaskID(9))
	if err != nil {
		t.Fatal(err)
	}
	if info.NextProcessAt.Before(at) {
		t.Errorf("Enqueue(processAt %s): task processable from %s, %s early",
			at.Format("15:04:05.000"), info.NextProcessAt.Format("15:04:05.000"), at.Sub(info.NextProcessAt))
	}
}
