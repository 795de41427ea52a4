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
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // quota time zones validate even where the system has no zoneinfo

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/pushapi"
)

func main() {
	ctx, stop := signalContext()
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// signalContext is cancelled by the first SIGINT or SIGTERM, which starts a
// graceful stop; the default handling is then restored, so a second signal
// ends the process at once (an operator's way out of a slow stop).
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }()
	return ctx, stop
}

// environment is what a command line runs against: the standard streams and
// the process environment. Tests run commands in-process with their own.
type environment struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	lookupEnv func(string) (string, bool)
	// environ lists the variables ("NAME=value"), for the TAGCAST_ ones
	// that name no key; nil: none.
	environ func() []string
	// defaultConfig is the config file used when --config is not given and
	// the file exists.
	defaultConfig string
}

func processEnvironment() environment {
	return environment{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv, environ: os.Environ, defaultConfig: "tagcast.yaml"}
}

// run executes the command line and maps the outcome to tagcast's exit codes:
// 0 ok, 1 operation failed or input invalid, 2 usage error.
func run(ctx context.Context, args []string) int {
	return runIn(ctx, args, processEnvironment())
}

// runIn is run against env.
func runIn(ctx context.Context, args []string, env environment) int {
	out := &countingWriter{w: env.stdout}
	env.stdout = out
	root := newRootCmd(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code := 1
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
		err = ee.err
	case isUsageError(err):
		code = 2
	}
	if err == nil {
		return code
	}
	printError(root.ErrOrStderr(), err)
	// --output json: a failure is JSON on stdout too, unless the command
	// already wrote its own (push validate, config check list problems).
	if f := root.PersistentFlags().Lookup("output"); (f != nil && f.Value.String() == "json" || asksJSON(args)) && out.n == 0 {
		_ = writeJSON(out, errorReport(err))
	}
	return code
}

// asksJSON reports whether args give --output json: a command line cobra
// refused before parsing its flags (an unknown command or flag) never set
// the flag, and a script reading stdout must get its JSON error all the
// same.
func asksJSON(args []string) bool {
	for i, a := range args {
		switch a {
		case "--":
			return false
		case "-o", "--output":
			if i+1 < len(args) && args[i+1] == "json" {
				return true
			}
		case "-ojson", "-o=json", "--output=json":
			return true
		}
	}
	return false
}

// countingWriter counts what goes through it.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// jsonProblem is one problem of an error report.
type jsonProblem struct {
	Path string `json:"path"`
	Rule string `json:"rule"`
	Code int    `json:"code,omitempty"`
}

// jsonError is a failure as --output json prints it: the admin API's error
// body (with its HTTP status) when the API refused, else the message and,
// for invalid input, every problem.
type jsonError struct {
	Error    string        `json:"error"`
	Status   int           `json:"status,omitempty"`
	Problems []jsonProblem `json:"problems,omitempty"`
	// IdempotencyKey is the key to send a create or retry again with, when
	// its outcome is unknown (its answer was lost, or a 5xx).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

func errorReport(err error) any {
	var (
		ae  *admin.APIError
		cve *config.ValidationError
		pve *pushapi.ValidationError
		uo  *unknownOutcome
	)
	key := ""
	if errors.As(err, &uo) {
		key = uo.key
	}
	switch {
	case errors.As(err, &ae):
		// The API's answer, its error worded as the CLI words it.
		body := ae.ErrorBody
		body.Error = err.Error()
		return struct {
			Status int `json:"status"`
			admin.ErrorBody
			IdempotencyKey string `json:"idempotency_key,omitempty"`
		}{ae.Status, body, key}
	case errors.As(err, &cve):
		r := jsonError{Error: err.Error()}
		for _, p := range cve.Problems {
			r.Problems = append(r.Problems, jsonProblem{Path: p.Path, Rule: p.Rule})
		}
		return r
	case errors.As(err, &pve):
		r := jsonError{Error: err.Error()}
		for _, p := range pve.Problems {
			r.Problems = append(r.Problems, jsonProblem(p))
		}
		return r
	}
	return jsonError{Error: err.Error(), IdempotencyKey: key}
}

// printError writes err to w, a validation error with one problem a line.
func printError(w io.Writer, err error) {
	var cve *config.ValidationError
	if !errors.As(err, &cve) {
		fmt.Fprintln(w, "tagcast:", err)
		return
	}
	src := "config"
	if cve.Source != "" {
		src += " " + cve.Source
	}
	fmt.Fprintf(w, "tagcast: %s: %s:\n", src, plural(len(cve.Problems), "problem"))
	for _, p := range cve.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

// plural renders "1 problem", "3 problems".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
