package queue_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tagcast/tagcast/queue"
)

// FuzzDecodeRunSend checks DecodeRunSend on any payload: no panic; a
// payload that decodes has run_id > 0; the hints are both kept (each equal
// to what encoding/json decodes from the payload's own "app" and
// "scheduled_for") or both dropped (both zero), never one without the
// other; and a decoded payload carrying both hints goes through
// NewRunSendTask and ParseRunSend unchanged.
//
//	go test -run '^$' -fuzz '^FuzzDecodeRunSend$' -fuzztime 60s ./queue/
func FuzzDecodeRunSend(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `1`, `"x"`, `{`, `{"run_id":1}`, `{"run_id":0}`, `{"run_id":-1}`,
		`{"run_id":1.5}`, `{"run_id":"1"}`, `{"run_id":9223372036854775807}`, `{"run_id":9223372036854775808}`,
		`{"run_id":1e3}`, `{"run_id":null}`, `{"RUN_ID":7}`, `{"run_id":1,"run_id":2}`, `{"run_id":1,"run_id":0}`,
		`{"run_id":1,"app":"main","scheduled_for":"2026-11-20T08:00:00Z"}`,
		`{"run_id":1,"app":"main","scheduled_for":"2026-11-20T08:00:00.123456789+08:00"}`,
		`{"run_id":1,"app":"main"}`, `{"run_id":1,"scheduled_for":"2026-11-20T08:00:00Z"}`,
		`{"run_id":1,"app":1,"scheduled_for":"2026-11-20T08:00:00Z"}`,
		`{"run_id":1,"app":"main","scheduled_for":1700000000}`,
		`{"run_id":1,"app":"main","scheduled_for":"2026-11-20 08:00:00"}`,
		`{"run_id":1,"app":"main","scheduled_for":"0001-01-01T00:00:00Z"}`,
		`{"run_id":1,"app":"main","scheduled_for":"9999-12-31T23:59:59-23:59"}`,
		`{"run_id":1,"app":"main","scheduled_for":"0000-01-01T00:00:00+01:00"}`,
		`{"run_id":1,"app":null,"scheduled_for":null}`, `{"run_id":1,"app":"","scheduled_for":""}`,
		`{"run_id":1,"App":"main","Scheduled_For":"2026-11-20T08:00:00Z"}`,
		`{"run_id":1,"app":"a","app":2,"scheduled_for":"2026-11-20T08:00:00Z"}`,
		`{"run_id":1,"app":"\ud800","scheduled_for":"2026-11-20T08:00:00Z"}`,
		"{\"run_id\":1,\"app\":\"\xff\",\"scheduled_for\":\"2026-11-20T08:00:00Z\"}",
		`{"run_id":1,"app":"main","scheduled_for":"2026-11-20T08:00:00Z"} x`,
		`{"run_id":1,"extra":{"a":[1,2,{"b":null}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		p, err := queue.DecodeRunSend(payload)
		if err != nil {
			if p != (queue.RunSendPayload{}) {
				t.Fatalf("DecodeRunSend(%q) failed (%v) but returned %+v", payload, err, p)
			}
			return
		}
		if p.RunID <= 0 {
			t.Fatalf("DecodeRunSend(%q) = run_id %d", payload, p.RunID)
		}

		// What encoding/json finds under the hints' keys, each on its own.
		var raw struct {
			App          json.RawMessage `json:"app"`
			ScheduledFor json.RawMessage `json:"scheduled_for"`
		}
		if err := json.Unmarshal(payload, &raw); err != nil {
			t.Fatalf("DecodeRunSend(%q) accepted a payload encoding/json refuses: %v", payload, err)
		}
		var app string
		var at time.Time
		appOK := json.Unmarshal(raw.App, &app) == nil
		atOK := json.Unmarshal(raw.ScheduledFor, &at) == nil
		if appOK && atOK {
			if p.App != app || !p.ScheduledFor.Equal(at) {
				t.Fatalf("DecodeRunSend(%q) = app %q at %v, want both kept: app %q at %v", payload, p.App, p.ScheduledFor, app, at)
			}
		} else if p.App != "" || !p.ScheduledFor.IsZero() {
			t.Fatalf("DecodeRunSend(%q) kept app %q at %v, want both dropped (app decodes: %v, scheduled_for decodes: %v)",
				payload, p.App, p.ScheduledFor, appOK, atOK)
		}

		if !p.Hinted() {
			return
		}
		task, err := queue.NewRunSendTask(p, queue.Options{})
		if err != nil {
			t.Fatalf("DecodeRunSend(%q) = %+v, which NewRunSendTask refuses: %v", payload, p, err)
		}
		q, err := queue.ParseRunSend(task)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", task.Payload(), err)
		}
		if q.RunID != p.RunID || q.App != p.App || !q.ScheduledFor.Equal(p.ScheduledFor) || !q.Hinted() {
			t.Fatalf("DecodeRunSend(%q) = %+v, re-encoded as %q decodes to %+v", payload, p, task.Payload(), q)
		}
	})
}
