package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/worker"
)

// noUIDPusher answers every push 200 with no push id or messageUID.
type noUIDPusher struct{}

func (noUIDPusher) Push(context.Context, *pushapi.Request) (*pushapi.PushResponse, error) {
	return &pushapi.PushResponse{}, nil
}

// A 200 without a messageUID is sent (the service accepted it) but leaves
// nothing to trace the push by: its attempt line is a warning that says
// so, where it was an ordinary info line with an empty message_uid (found
// by a review of the client).
func TestSentWithoutMessageUIDIsAWarning(t *testing.T) {
	t.Parallel()
	e := setup(t, envOpts{})
	ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
	var buf ntLogBuffer
	h, err := worker.NewHandler(worker.Deps{
		Store: e.store, Guard: e.guard, Pushers: map[string]worker.Pusher{testApp: noUIDPusher{}},
		Clock: e.clock, Logger: zerolog.New(&buf), Jitter: func() float64 { return 0.5 },
	}, worker.Config{Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ProcessRun(e.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, sends := e.run(ids[0]); sends[0].Status != campaign.SendSent {
		t.Fatalf("send %s, want sent", sends[0].Status)
	}
	found := false
	for _, l := range buf.lines(t) {
		if l["message"] == "push attempt: the service answered 200 without a messageUID" {
			found = true
			if l["level"] != "warn" || l["status"] != "sent" {
				t.Errorf("attempt line %v; want level warn, status sent", l)
			}
		}
	}
	if !found {
		t.Errorf("no warning that the 200 carried no messageUID; lines %v", buf.lines(t))
	}
}
