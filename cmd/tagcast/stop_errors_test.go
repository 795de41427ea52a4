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
// part, and still stops every part after a failure: each is told to stop
// first (a goPart's context is cancelled), then each is waited for in
// reverse order of start. A part that returns its error only once it is
// stopped (a goPart whose fn fails on the way out) counts too, while one
// that returns nil does not.
//
// The goParts' fns return concurrently once told to stop, so the order is
// the order of the waits (stop's own goroutine), not of the fns' returns:
// recording the latter raced, and failed about one run in four under load.
func TestStopReturnsWhatDidNotStopCleanly(t *testing.T) {
	t.Parallel()
	p := &process{d: &deps{log: zerolog.Nop()}, fatal: make(chan error, 4)}
	started := make(chan context.Context, 2)
	p.goPart("admin API", func(ctx context.Context) error {
		started <- ctx
		<-ctx.Done()
		return errors.New("graceful shutdown within 10s: context deadline exceeded")
	})
	p.goPart("scheduler", func(ctx context.Context) error {
		started <- ctx
		<-ctx.Done()
		return nil
	})
	ctxs := []context.Context{<-started, <-started}
	var quiescedFirst bool
	p.stops = append(p.stops, closer{name: "worker", close: func() error {
		quiescedFirst = ctxs[0].Err() != nil && ctxs[1].Err() != nil
		return errors.New("worker: stopped with a run still recording its outcome")
	}})
	var order []string // appended by stop's goroutine only
	for i := range p.stops {
		s := &p.stops[i]
		name, inner := s.name, s.close
		s.close = func() error {
			err := inner()
			order = append(order, name)
			return err
		}
	}

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
	if !quiescedFirst {
		t.Error("the worker was waited for before the admin API and the scheduler were told to stop")
	}
	if got := strings.Join(order, ", "); got != "worker, scheduler, admin API" {
		t.Errorf("parts waited for in the order %s, want every part, in reverse order of start", got)
	}
	if p.stop() != nil {
		t.Error("a second stop returned an error: it should have nothing left to stop")
	}
}
