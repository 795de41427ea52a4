// Command tagcast sends scheduled push campaigns through the push service's
// Server API without exceeding its quota, sending twice or losing a send.
//
// main is deliberately thin: every subcommand builds its own dependencies
// (see root.go) and shuts them down in reverse order.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes the command line and maps the outcome to tagcast's exit codes:
// 0 ok, 1 operation failed or input invalid, 2 usage error.
func run(ctx context.Context, args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(root.ErrOrStderr(), "tagcast:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(root.ErrOrStderr(), "tagcast:", err)
	if isUsageError(err) {
		return 2
	}
	return 1
}
