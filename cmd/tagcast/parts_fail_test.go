package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestStopReturnsWhenManyPartsFailAtOnce: a part that fails by itself
// reports on p.fatal, which has room for 4; serve runs more parts than
// that (admin API, quota guard lock, Redis mark, reconciler, scheduler,
// ...). A fifth part failing before the stop blocked on its report forever,
// and stop, which waits for every part, never returned: the process hung
// instead of exiting. Extra failures are now logged.
func TestStopReturnsWhenManyPartsFailAtOnce(t *testing.T) {
	t.Parallel()
	p := &process{d: &deps{log: zerolog.Nop()}, fatal: make(chan error, 4)}
	var failed sync.WaitGroup
	for i := range 6 {
		failed.Add(1)
		p.goPart(fmt.Sprintf("part %d", i), func(context.Context) error {
			defer failed.Done()
			return errors.New("broken")
		})
	}
	failed.Wait() // every part has returned its error
	stopped := make(chan error, 1)
	go func() { stopped <- p.stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("stop: %v, want nil (the failures were reported on p.fatal, not by stop)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stop still waiting 10 s after six parts failed: a failed part is blocked reporting")
	}
	if got := len(p.fatal); got != 4 {
		t.Errorf("%d failures reported, want the first 4 (the rest logged)", got)
	}
}
