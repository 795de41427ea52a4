// Package testenv gives test packages real, throwaway servers: a PostgreSQL
// cluster shared by the test binary (one fresh database per call) and a
// redis-server per test, each on a free loopback port.
//
// It never touches a server it did not start (not 127.0.0.1:5432 nor :6379),
// and a missing binary is a test failure that says how to install it, never a
// skip. Servers are started with Pdeathsig SIGKILL so a crashed test binary
// leaves nothing behind; Main stops them in an orderly way after the tests.
//
// Unlike the rest of tagcast this package keeps process-wide state: the one
// PostgreSQL cluster per test binary and the list of servers to stop. That is
// its purpose, and it is only ever linked into test binaries.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// installHint is appended to every "binary not found" failure.
const installHint = "run `make services` (it runs apt-get install redis-server postgresql) and retry"

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 60 * time.Second

// stopTimeout bounds an orderly shutdown before the server is killed.
const stopTimeout = 15 * time.Second

// registry holds every server process this test binary started and has not
// stopped yet, so Main can stop them after the tests.
var registry = struct {
	sync.Mutex
	procs map[*process]struct{}
}{procs: map[*process]struct{}{}}

// Main runs the tests, then stops every server this process started, and
// exits with the tests' code. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	stopAll()
	os.Exit(code)
}

// stopAll stops the PostgreSQL cluster and every other server still running.
func stopAll() {
	pgShared.close()
	registry.Lock()
	procs := make([]*process, 0, len(registry.procs))
	for p := range registry.procs {
		procs = append(procs, p)
	}
	registry.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(stopTimeout)
		}()
	}
	wg.Wait()
}

// process is one running server binary.
type process struct {
	name string // "postgres", "redis-server", for messages
	cmd  *exec.Cmd
	log  *Buffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done is closed
}

// startProcess starts cmd with Pdeathsig SIGKILL, output captured in log, and
// registers it for Main.
func startProcess(name string, cmd *exec.Cmd, log *Buffer) (*process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true // a Ctrl-C on the test does not hit the server first
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	registry.Lock()
	registry.procs[p] = struct{}{}
	registry.Unlock()
	go func() {
		p.err = cmd.Wait()
		registry.Lock()
		delete(registry.procs, p)
		registry.Unlock()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to terminate (SIGINT: PostgreSQL's fast shutdown,
// redis-server's shutdown) and kills it if it is not gone within timeout.
func (p *process) stop(timeout time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill()
	}
}

// kill sends SIGKILL and waits for the process to be reaped.
func (p *process) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// freePort returns a loopback TCP port that was free a moment ago. Callers
// retry when the server then fails to bind it (another process won the race).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// serverUser is the account servers run as: the current user, or the
// `postgres` system user when running as root (PostgreSQL refuses root).
type serverUser struct {
	cred     *syscall.Credential // nil: the current user
	uid, gid int
}

// postgresUser resolves the account PostgreSQL runs as.
func postgresUser() (serverUser, error) {
	if os.Geteuid() != 0 {
		return serverUser{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return serverUser{}, fmt.Errorf("running as root, PostgreSQL must run as the `postgres` system user, which does not exist (%w); %s", err, installHint)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return serverUser{}, fmt.Errorf("user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return serverUser{}, fmt.Errorf("user postgres: gid %q: %w", u.Gid, err)
	}
	return serverUser{
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
		uid:  uid, gid: gid,
	}, nil
}

// chownTree hands dir and everything below it to u (no-op for the current user).
func (u serverUser) chownTree(dir string) error {
	if u.cred == nil {
		return nil
	}
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, u.uid, u.gid)
	})
}

// exitErrorText describes why a process ended, for failure messages.
func exitErrorText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	if err == nil {
		return "exited with status 0"
	}
	return err.Error()
}
