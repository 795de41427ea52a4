package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tagcast/tagcast/internal/testenv"
)

// reexecVar makes the test binary run tagcast's main instead of the tests,
// so tests can run tagcast as a subprocess without building it.
const reexecVar = "TAGCAST_TEST_REEXEC_MAIN"

// slowStopVar makes the test binary a process whose graceful stop is slow.
const slowStopVar = "TAGCAST_TEST_SLOW_STOP"

func TestMain(m *testing.M) {
	if os.Getenv(reexecVar) == "1" {
		ctx, stop := signalContext()
		code := run(ctx, os.Args[1:])
		stop()
		os.Exit(code)
	}
	if os.Getenv(slowStopVar) == "1" {
		// A process whose graceful stop takes a minute.
		ctx, stop := signalContext()
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Println("stopping")
		time.Sleep(time.Minute)
		stop()
		os.Exit(0)
	}
	testenv.Main(m)
}

// The first SIGINT starts a graceful stop; a second one, during a slow stop,
// ends the process at once.
func TestSecondSignalEndsASlowStop(t *testing.T) {
	t.Parallel()
	p := testenv.StartSelf(t, "slow stop", slowStopVar+"=1")
	waitOut := func(s string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(p.Stdout.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q on stdout: %q", s, p.Stdout.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitOut("ready")
	if err := syscall.Kill(p.Pid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitOut("stopping")
	select {
	case <-p.Done():
		t.Fatalf("exited on the first signal: %v", p.Err())
	case <-time.After(200 * time.Millisecond):
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("still stopping 20 s after the second signal")
	}
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) {
		t.Fatalf("exit: %v, want death by SIGINT", p.Err())
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("exit status %v, want killed by SIGINT", ee)
	}
}

// go-redis's own messages (here: a pool that cannot dial) follow
// log.format: with json, every one of them is a JSON line of the log.
func TestRedisMessagesFollowTheLogFormat(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String() // nothing listens there once closed
	_ = l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tagcast.yaml")
	if err := os.WriteFile(cfg, []byte(`redis: {url: "redis://`+closed+`/0"}
database: {url: "sqlite://`+filepath.Join(dir, "tagcast.db")+`"}
log: {format: json, level: info}
apps:
  - {name: main, app_key: uwd1c0sxdlx2, app_secret_env: TAGCAST_TEST_SECRET, data_center: singapore}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "worker", "--config", cfg)
	cmd.Env = append(os.Environ(), reexecVar+"=1", "TAGCAST_TEST_SECRET=not-a-secret")
	var stderr testenv.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); exitCode(t, err) != 1 {
		t.Fatalf("worker with Redis down: %v, want exit 1; stderr:\n%s", err, stderr.String())
	}
	found := 0
	for line := range strings.Lines(stderr.String()) {
		if !strings.Contains(line, "connection pool") {
			continue
		}
		found++
		var entry struct{ Level, Component, Message string }
		if err := json.Unmarshal([]byte(line), &entry); err != nil || entry.Level != "warn" || entry.Component != "redis" {
			t.Errorf("go-redis line %q: not a warning of component redis in the JSON log (%v)", line, err)
		}
	}
	if found == 0 {
		t.Errorf("no go-redis message on stderr:\n%s", stderr.String())
	}
}
