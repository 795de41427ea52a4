package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tagcast/tagcast/internal/testenv"
)

// demoProcess runs `tagcast demo` as a subprocess (this test binary
// re-executed as tagcast, see TestMain).
func demoProcess(t *testing.T, args ...string) (*exec.Cmd, *testenv.Buffer, *testenv.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"demo"}, args...)...)
	cmd.Env = append(os.Environ(), reexecVar+"=1")
	cmd.Dir = t.TempDir() // no tagcast.yaml: the demo needs none
	stdout, stderr := &testenv.Buffer{}, &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, stderr
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

func TestDemoSendsEverythingOnceAndDefersTheThirdPush(t *testing.T) {
	t.Parallel()
	started := time.Now()
	cmd, stdout, stderr := demoProcess(t, "--duration", "4s", "--output", "json")
	code := exitCode(t, cmd.Wait())
	wall := time.Since(started)
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var rep demoReport
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("demo --output json is not one report: %v\n%s", err, stdout)
	}
	t.Logf("demo --duration 4s: wall %s, scenario %.1fs, simulated time jumped %s", wall.Round(100*time.Millisecond), rep.WallSeconds, rep.Jumped)
	if !rep.OK || len(rep.Problems) != 0 || rep.Interrupted {
		t.Errorf("report not OK: %+v", rep)
	}
	// 1 now + 1 at + 2 recurring fires, one push each; the default quota (2
	// an hour, 3 a day) defers the third to the next hour and the fourth to
	// the next day.
	if rep.Runs != 4 || rep.Sent != 4 || rep.Pushes != 4 || rep.RateLimited != 0 || rep.Deferred != 2 {
		t.Errorf("runs %d sent %d pushes %d 429s %d deferred %d; want 4 4 4 0 2", rep.Runs, rep.Sent, rep.Pushes, rep.RateLimited, rep.Deferred)
	}
	if !rep.SimulatedTime || rep.SimEnd.Sub(rep.SimStart) < time.Hour {
		t.Errorf("simulated time %s -> %s: want a jump past the hour window", rep.SimStart, rep.SimEnd)
	}
	uids := map[string]bool{}
	for _, c := range rep.Campaigns {
		for _, r := range c.Runs {
			for _, s := range r.Sends {
				if s.Status != "sent" || s.MessageUID == "" || uids[s.MessageUID] || len(s.Recipients) == 0 {
					t.Errorf("campaign %q send %+v", c.Name, s)
				}
				uids[s.MessageUID] = true
			}
		}
	}
	if !strings.HasPrefix(rep.AdminURL, "http://127.0.0.1:") || len(rep.AdminToken) != 32 || !strings.HasPrefix(rep.Emulator, "http://127.0.0.1:") {
		t.Errorf("admin %q token %q emulator %q", rep.AdminURL, rep.AdminToken, rep.Emulator)
	}
	if wall > 30*time.Second {
		t.Errorf("demo --duration 4s took %s", wall)
	}
}

func TestDemoStopsCleanlyOnCtrlC(t *testing.T) {
	t.Parallel()
	cmd, stdout, stderr := demoProcess(t, "--duration", "30s")
	waitFor(t, "live progress", 30*time.Second, func() bool { return strings.Contains(stdout.String(), "==> Live progress") })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	code := exitCode(t, cmd.Wait())
	out := stdout.String()
	if code != demoExitInterrupted || !strings.Contains(out, "==> Interrupted: stopping every part cleanly") ||
		!strings.Contains(out, "INTERRUPTED: stopped cleanly (exit 130)") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	if d := time.Since(stopped); d > 10*time.Second {
		t.Errorf("stopped %s after SIGINT", d)
	}
	for _, want := range []string{"TIME IS SIMULATED", "batch set lily,mei   tags 女,年轻,北京", "read back the tags of 7 users",
		"#1 winter-sale (now)", "#3 maintenance-notice (recurring)"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// The admin API stops with the rest: the summary offers nothing to try on it.
	if summary := out[strings.LastIndex(out, "==> Summary"):]; strings.Contains(summary, "try ") || strings.Contains(summary, "monitoring ") {
		t.Errorf("an interrupted demo's summary offers the admin API it is stopping:\n%s", summary)
	}
}

func TestDemoTextShowsTheDeferral(t *testing.T) {
	t.Parallel()
	cmd, stdout, stderr := demoProcess(t, "--duration", "3s")
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	out := stdout.String()
	for _, want := range []string{
		"DEFERRED: the hour window is full; waits for ",
		"DEFERRED: the day window is full; waits for ",
		"every remaining send waits for the quota: SIMULATED time jumps ",
		"after its scheduled time",
		"the emulator received 4 pushes and answered 429 0 times",
		"OK: every send went out exactly once",
		"TAGCAST_ADMIN_TOKEN=",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if s := stderr.String(); s != "" {
		t.Errorf("stderr not empty:\n%s", s)
	}
}

func TestDemoRejectsABadDuration(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"-1s", "0s"} {
		r := runTagcast(t, cliEnv{}, "demo", "--duration", d)
		if r.code != 2 || !strings.Contains(r.stderr, "--duration: must be positive") {
			t.Errorf("--duration %s: %s", d, r)
		}
	}
}

// The demo runs on embedded defaults by design: a --config given to it is
// not read, and it says so instead of leaving the config seemingly in
// effect.
func TestDemoSaysItDoesNotReadAConfig(t *testing.T) {
	t.Parallel()
	r := runTagcast(t, cliEnv{}, "--config", "/etc/tagcast/prod.yaml", "demo", "--duration", "0s")
	if !strings.Contains(r.stderr, "note: the demo runs on embedded defaults; --config /etc/tagcast/prod.yaml is not read") {
		t.Errorf("no note that --config is not read: %s", r)
	}
}
