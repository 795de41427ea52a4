package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/tagcast/tagcast/internal/testenv"
)

// reexecVar makes the test binary run tagcast's main instead of the tests,
// so tests can run tagcast as a subprocess without building it.
const reexecVar = "TAGCAST_TEST_REEXEC_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(reexecVar) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:])
		stop()
		os.Exit(code)
	}
	testenv.Main(m)
}
