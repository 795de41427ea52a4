package testenv

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfTestEnv makes the test binary run selfHelper (see TestMain).
const selfTestEnv = "TESTENV_SELF_HELPER"

// selfHelper prints a line, then exits with 0 on SIGTERM ("clean") or 4
// ("dirty").
func selfHelper(mode string) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	fmt.Println("helper ready")
	fmt.Fprintln(os.Stderr, "a line on stderr")
	<-sig
	if mode == "dirty" {
		return 4
	}
	return 0
}

func waitReady(t *testing.T, s *Self) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Stdout.String(), "helper ready") {
		if time.Now().After(deadline) {
			t.Fatalf("helper not ready; stdout %q stderr %q", s.Stdout.String(), s.Stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStartSelfStopAndKill(t *testing.T) {
	t.Parallel()
	clean := StartSelf(t, "clean helper", selfTestEnv+"=clean")
	waitReady(t, clean)
	if err := clean.Stop(10 * time.Second); err != nil {
		t.Errorf("Stop of a helper exiting 0 = %v", err)
	}
	if got := clean.Stderr.Tail(1); got != "a line on stderr" {
		t.Errorf("stderr tail = %q", got)
	}

	dirty := StartSelf(t, "dirty helper", selfTestEnv+"=dirty")
	waitReady(t, dirty)
	if err := dirty.Stop(10 * time.Second); err == nil || !strings.Contains(err.Error(), "exit status 4") ||
		!strings.Contains(err.Error(), "a line on stderr") {
		t.Errorf("Stop of a helper exiting 4 = %v; want the exit status and the stderr tail", err)
	}

	killed := StartSelf(t, "killed helper", selfTestEnv+"=clean")
	waitReady(t, killed)
	killed.Kill()
	select {
	case <-killed.Done():
	default:
		t.Fatal("Kill returned before the helper exited")
	}
	if killed.Err() == nil {
		t.Error("a killed helper reports a clean exit")
	}
	killed.Kill() // a second Kill is a no-op
}

func TestBufferLimitKeepsTheTail(t *testing.T) {
	t.Parallel()
	b := &Buffer{Limit: 1 << 10}
	for i := range 500 {
		fmt.Fprintf(b, "line %03d\n", i)
	}
	if n := len(b.String()); n > 1<<10+64 {
		t.Errorf("kept %d bytes, want about the 1 KiB limit at most", n)
	}
	if got := b.Tail(2); got != "line 498\nline 499" {
		t.Errorf("Tail(2) = %q", got)
	}
	var unbounded Buffer
	for i := range 500 {
		fmt.Fprintf(&unbounded, "line %03d\n", i)
	}
	if !strings.HasPrefix(unbounded.String(), "line 000\n") || strings.Count(unbounded.String(), "\n") != 500 {
		t.Error("a Buffer without a limit lost lines")
	}
}
