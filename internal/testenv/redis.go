package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a throwaway redis-server on a loopback port, owned by one
// test. It keeps nothing on disk (no RDB, no AOF).
type RedisServer struct {
	// Addr is host:port, stable across Restart.
	Addr string

	bin  string
	dir  string
	port int

	mu   sync.Mutex
	proc *process
}

// Redis starts a fresh redis-server for this test and stops it at t.Cleanup.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: redis-server not found in PATH; %s", installHint)
	}
	s := &RedisServer{bin: bin, dir: t.TempDir()}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testenv: Redis: %v", err)
		}
		s.port = port
		s.Addr = "127.0.0.1:" + strconv.Itoa(port)
		lastErr = s.start()
		if lastErr == nil {
			t.Cleanup(s.stop)
			return s
		}
		if !strings.Contains(lastErr.Error(), "in use") {
			break
		}
	}
	t.Fatalf("testenv: Redis: %v", lastErr)
	return nil
}

// URL is the redis:// URL of the server (database 0).
func (s *RedisServer) URL() string { return "redis://" + s.Addr + "/0" }

// Kill stops the server with SIGKILL, as a crash would; the data is gone.
func (s *RedisServer) Kill(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
	}
}

// Restart kills the server (if running) and starts it again on the same
// port, empty, like an embedded Redis restarted or a fail-over to an empty
// replica.
func (s *RedisServer) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
	}
	// The port was ours a moment ago; a bind can still fail briefly.
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.startLocked(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("testenv: Redis: restart on %s: %v", s.Addr, err)
}

// Flush removes every key of every database (FLUSHALL).
func (s *RedisServer) Flush(t testing.TB) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("testenv: Redis: FLUSHALL on %s: %v", s.Addr, err)
	}
}

func (s *RedisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startLocked()
}

// startLocked starts redis-server on s.port and waits for PING.
func (s *RedisServer) startLocked() error {
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
		"--protected-mode", "no",
	)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	proc, err := startProcess("redis-server", cmd, &Buffer{Limit: serverLogLimit})
	if err != nil {
		return err
	}
	if err := waitRedis(proc, s.Addr); err != nil {
		proc.kill()
		return err
	}
	s.proc = proc
	return nil
}

// waitRedis PINGs until the server answers or startTimeout passes.
func waitRedis(proc *process, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer func() { _ = c.Close() }()
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		if proc.exited() {
			return fmt.Errorf("redis-server on %s %s before answering PING; server log:\n%s",
				addr, exitErrorText(proc.err), proc.log.Tail(20))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		lastErr = c.Ping(ctx).Err()
		if lastErr == nil {
			// Make sure it is our server answering, not one that won the port.
			lastErr = checkRedisPID(ctx, c, proc.cmd.Process.Pid)
			cancel()
			if lastErr == nil {
				return nil
			}
			continue
		}
		cancel()
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on %s not ready after %s (last error: %w); server log:\n%s",
		addr, startTimeout, lastErr, proc.log.Tail(20))
}

// checkRedisPID verifies that the server at the other end is process pid.
func checkRedisPID(ctx context.Context, c *redis.Client, pid int) error {
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return err
	}
	want := "process_id:" + strconv.Itoa(pid)
	for _, line := range strings.Split(info, "\n") {
		if strings.TrimSpace(line) == want {
			return nil
		}
	}
	return fmt.Errorf("another server answers on %s (want %s)", c.Options().Addr, want)
}

// stop shuts the server down (t.Cleanup).
func (s *RedisServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.stop(stopTimeout)
	}
}
