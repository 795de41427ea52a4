package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestStopReturnsWhatDidNotStopCleanly: a role process's stop used to log a
// part's failure and carry on, so runRoles exited 0 even when the worker
// gave up on a run still recording its outcome or the admin API's graceful
// shutdown ran out. p.stop now returns every such error, each naming its
// part, and still stops every part (in reverse order) after a failure; a
// part that returns its error only once it is stopped (a goPart whose fn
// fails on the way out) counts too, while one that returns nil does not.
func TestStopReturnsWhatDidNotStopCleanly(t *testing.T) {
	t.Parallel()
	p := &process{d: &deps{log: zerolog.Nop()}, fatal: make(chan error, 4)}
	var order []string
	p.goPart("admin API", func(ctx context.Context) error {
		<-ctx.Done()
		order = append(order, "admin API")
		return errors.New("graceful shutdown within 10s: context deadline exceeded")
	})
	p.goPart("scheduler", func(ctx context.Context) error {
		<-ctx.Done()
		order = append(order, "scheduler")
		return nil
	})
	p.stops = append(p.stops, closer{name: "worker", close: func() error {
		order = append(order, "worker")
		return errors.New("worker: stopped with a run still recording its outcome")
	}})

	err := p.stop()
	if err == nil {
		t.Fatal("stop returned nil although two parts did not stop cleanly")
	}
	for _, want := range []string{"stop worker: worker: stopped with a run", "stop admin API: graceful shutdown"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("stop's error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "scheduler") {
		t.Errorf("stop's error %q names the scheduler, which stopped cleanly", err)
	}
	if got := strings.Join(order, ", "); got != "worker, scheduler, admin API" {
		t.Errorf("parts stopped in the order %s, want every part, in reverse order of start", got)
	}
	if p.stop() != nil {
		t.Error("a second stop returned an error: it should have nothing left to stop")
	}
}
