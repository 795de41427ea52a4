package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serverLogLimit bounds what a server's Buffer keeps: long runs only need
// the tail.
const serverLogLimit = 1 << 20

// FreeAddr returns a loopback host:port that was free a moment ago, for a
// server the test starts (which retries or fails if another process took
// it in between).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// Buffer collects a process's or a logger's output while tests read it;
// safe for concurrent use. With Limit > 0 it keeps only about the last
// Limit bytes.
type Buffer struct {
	Limit int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit > 0 && b.buf.Len() > b.Limit {
		keep := append([]byte(nil), b.buf.Bytes()[b.buf.Len()-b.Limit/16:]...)
		b.buf.Reset()
		b.buf.Write(keep)
	}
	return b.buf.Write(p)
}

// String returns everything kept so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines kept.
func (b *Buffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Self is the running test binary re-executed as a helper process: a test
// starts it with an environment variable its TestMain dispatches on, to get
// a second OS process (a worker, a scheduler) that can be signalled or
// killed.
type Self struct {
	name           string
	cmd            *exec.Cmd
	Stdout, Stderr *Buffer
	done           chan struct{} // closed once the process has exited
	err            error         // Wait's result, valid after done
}

// StartSelf re-executes the test binary, running no tests (-test.run=^$),
// with env added to this process's environment. The helper dies with the
// test binary (Pdeathsig) and is killed at cleanup if still running; when
// the test failed, the tail of its stderr is logged under name.
func StartSelf(tb testing.TB, name string, env ...string) *Self {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &Self{name: name, cmd: cmd, Stdout: &Buffer{}, Stderr: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(func() {
		s.Kill()
		if tb.Failed() {
			tb.Logf("%s (process %d, %v) stderr (tail):\n%s", name, cmd.Process.Pid, s.err, s.Stderr.Tail(30))
		}
	})
	return s
}

// Pid is the helper's process id.
func (s *Self) Pid() int { return s.cmd.Process.Pid }

// Done is closed once the helper has exited; Err then tells how.
func (s *Self) Done() <-chan struct{} { return s.done }

// Err is the helper's exit error (nil: exit status 0); valid after Done.
func (s *Self) Err() error { return s.err }

// Kill sends SIGKILL (if the helper still runs) and waits for it to exit.
func (s *Self) Kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Stop sends SIGTERM and waits up to timeout for the helper to exit. It
// returns the exit error, with the tail of stderr, or a timeout error.
func (s *Self) Stop(timeout time.Duration) error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: SIGTERM: %w", s.name, err)
	}
	select {
	case <-s.done:
		if s.err != nil {
			return fmt.Errorf("%s exited with %w; stderr (tail):\n%s", s.name, s.err, s.Stderr.Tail(30))
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s (process %d) did not stop within %s of SIGTERM", s.name, s.Pid(), timeout)
	}
}
