package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgShared is the one PostgreSQL cluster of this test binary, started by the
// first Postgres call.
var pgShared = &pgCluster{}

// pgCluster is a throwaway PostgreSQL cluster in a temporary directory.
type pgCluster struct {
	once sync.Once
	err  error // startup failure, reported to every caller

	dir  string // temp dir: data/ and the unix socket
	port int
	proc *process

	mu    sync.Mutex // guards admin (a pgx.Conn is not safe for concurrent use)
	admin *pgx.Conn  // connected to database "postgres", for CREATE/DROP DATABASE

	seq atomic.Int64 // database name counter
}

// Postgres returns the postgres:// URL of a fresh, empty database on a
// throwaway PostgreSQL cluster shared by the whole test binary (started on the
// first call). The database is dropped when the test ends (best effort); the
// cluster is stopped by Main, or killed with the test binary.
func Postgres(t testing.TB) string {
	t.Helper()
	c := pgShared
	c.once.Do(func() { c.err = c.start() })
	if c.err != nil {
		t.Fatalf("testenv: PostgreSQL: %v", c.err)
	}
	name := databaseName(t.Name(), c.seq.Add(1))
	if err := c.exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("testenv: PostgreSQL: create database %s: %v\nserver log:\n%s", name, err, c.proc.log.Tail(20))
	}
	t.Cleanup(func() {
		if err := c.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("testenv: PostgreSQL: drop database %s (ignored): %v", name, err)
		}
	})
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// databaseName builds a unique, valid, unquoted identifier (at most 63 bytes)
// that still shows which test made it.
func databaseName(testName string, seq int64) string {
	s := nonIdent.ReplaceAllString(strings.ToLower(testName), "_")
	prefix := "t" + strconv.FormatInt(seq, 10) + "_"
	if max := 63 - len(prefix); len(s) > max {
		s = s[:max]
	}
	return prefix + s
}

// exec runs one statement on the admin connection.
func (c *pgCluster) exec(sql string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.admin.Exec(ctx, sql)
	return err
}

// postgresBinaries locates initdb and postgres: the highest version under
// /usr/lib/postgresql/*/bin, else PATH.
func postgresBinaries() (initdb, postgres string, err error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isExecutable(i) && isExecutable(p) {
			return i, p, nil
		}
	}
	i, errI := exec.LookPath("initdb")
	p, errP := exec.LookPath("postgres")
	if errI != nil || errP != nil {
		return "", "", fmt.Errorf("initdb and postgres not found in /usr/lib/postgresql/*/bin nor in PATH; %s", installHint)
	}
	return i, p, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// start runs initdb into a temp dir, starts postgres on a free port and waits
// until it accepts connections.
func (c *pgCluster) start() error {
	initdb, postgres, err := postgresBinaries()
	if err != nil {
		return err
	}
	owner, err := postgresUser()
	if err != nil {
		return err
	}
	c.dir, err = os.MkdirTemp("", "tagcast-pg-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	if err := owner.chownTree(c.dir); err != nil {
		return fmt.Errorf("chown %s to the postgres user: %w", c.dir, err)
	}
	data := filepath.Join(c.dir, "data")
	env := []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C", "TZ=UTC"}

	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = c.dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", data, err, tailLines(string(out), 20))
	}

	// Retry when another process grabs the port between freePort and bind.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		cmd := exec.Command(postgres,
			"-D", data, "-p", strconv.Itoa(port), "-k", c.dir,
			"-c", "listen_addresses=127.0.0.1",
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=200", "-c", "shared_buffers=32MB",
		)
		cmd.Dir = c.dir
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner.cred}
		proc, err := startProcess("postgres", cmd, &Buffer{Limit: serverLogLimit})
		if err != nil {
			return err
		}
		admin, err := waitPostgres(proc, port, data)
		if err == nil {
			c.port, c.proc, c.admin = port, proc, admin
			return nil
		}
		proc.kill()
		lastErr = err
		if !strings.Contains(proc.log.Tail(50), "already in use") {
			break
		}
	}
	return lastErr
}

// waitPostgres connects until the server answers or startTimeout passes.
// It checks that the server answering owns dataDir (not another one that won
// the port).
func waitPostgres(proc *process, port int, dataDir string) (*pgx.Conn, error) {
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		if proc.exited() {
			return nil, fmt.Errorf("postgres on port %d %s before accepting connections; server log:\n%s",
				port, exitErrorText(proc.err), proc.log.Tail(20))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			var dir string
			err = conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir)
			if err == nil && dir != dataDir {
				err = fmt.Errorf("another server answers on port %d (data directory %s)", port, dir)
			}
			if err == nil {
				cancel()
				return conn, nil
			}
			_ = conn.Close(ctx)
		}
		cancel()
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("postgres on port %d not ready after %s (last error: %w); server log:\n%s",
		port, startTimeout, lastErr, proc.log.Tail(20))
}

// close disconnects, stops the server and removes its directory.
func (c *pgCluster) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.admin.Close(ctx)
		cancel()
		c.admin = nil
	}
	if c.proc != nil {
		c.proc.stop(stopTimeout)
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
