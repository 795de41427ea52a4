//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/simclock"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
)

// adminToken is the bearer token of the api process (test-only).
const adminToken = "e2e-admin-token"

// appSpec is one App Key of a scenario: its tagcast app and its emulated
// service quota (the same on both sides).
type appSpec struct {
	Name, Key, Secret string
	Hourly, Daily     int
	HourWindow        string // rolling | clock
	DayWindow         string // calendar | rolling
	Timezone          string
}

// String describes the app for logs, without its secret.
func (a appSpec) String() string {
	return fmt.Sprintf("%s(key %s, %d/h %s, %d/day %s, %s)", a.Name, a.Key, a.Hourly, a.HourWindow, a.Daily, a.DayWindow, a.Timezone)
}

func (a appSpec) secretEnv() string { return "TAGCAST_E2E_SECRET_" + strings.ToUpper(a.Name) }

func (a appSpec) policy() quota.Policy {
	return quota.Policy{Hourly: a.Hourly, Daily: a.Daily, HourWindow: quota.HourWindow(a.HourWindow),
		DayWindow: quota.DayWindow(a.DayWindow), Timezone: a.Timezone}
}

// emuUsers are the users the emulator knows for app a: 40 of them, every
// one tagged "all" (the scenario's tag audience) and one of t0..t3.
func emuUsers(a appSpec) []emulator.User {
	users := make([]emulator.User, 40)
	for i := range users {
		users[i] = emulator.User{ID: fmt.Sprintf("%s-u%d", a.Name, i), Tags: []string{"all", "t" + strconv.Itoa(i%4)}}
	}
	return users
}

// emuUserIDs are the ids of emuUsers(a): whom a tag-"all" push of app a
// reaches.
func emuUserIDs(a appSpec) []string {
	var ids []string
	for _, u := range emuUsers(a) {
		ids = append(ids, u.ID)
	}
	return ids
}

// clusterOptions shape a cluster.
type clusterOptions struct {
	apps       []appSpec
	start      time.Time // the simulated clock's first instant
	faults     emulator.Faults
	workers    int
	schedulers int
	appTimeout time.Duration // the push client's timeout per call (real time)
}

// cluster is one PostgreSQL database, one Redis, the emulator, the shared
// simulated clock and the tagcast role processes.
type cluster struct {
	t     *testing.T
	opts  clusterOptions
	dir   string
	clock *simclock.Clock
	store *sqlstore.Store
	redis *testenv.RedisServer
	rdb   *redis.Client
	guard *quota.Guard
	emu   *emulator.Emulator
	calls *callLog
	admin *admin.Client
	// inspector looks at the run tasks in the queue (the probes).
	inspector *asynq.Inspector

	cfgPath   string
	adminAddr string

	mu    sync.Mutex
	procs map[string]*proc
	seq   map[string]int
}

// proc is one running tagcast role process.
type proc struct {
	name, role string
	cmd        *exec.Cmd
	logPath    string
	done       chan struct{}
	err        error // set before done closes
}

func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	ctx := t.Context()
	c := &cluster{t: t, opts: o, dir: t.TempDir(), procs: map[string]*proc{}, seq: map[string]int{}}
	var err error
	if c.clock, err = simclock.Create(filepath.Join(c.dir, "clock"), o.start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.clock.Close)

	pgURL := testenv.Postgres(t)
	if c.store, err = sqlstore.Open(ctx, pgURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.store.Close() })
	if err := c.store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	c.redis = testenv.Redis(t)
	c.rdb = redis.NewClient(&redis.Options{Addr: c.redis.Addr})
	t.Cleanup(func() { _ = c.rdb.Close() })
	policies := map[string]quota.Policy{}
	for _, a := range o.apps {
		policies[a.Name] = a.policy()
	}
	c.inspector = asynq.NewInspector(asynq.RedisClientOpt{Addr: c.redis.Addr})
	t.Cleanup(func() { _ = c.inspector.Close() })
	if c.guard, err = quota.New(quota.Options{Client: c.rdb, Ledger: c.store, Apps: policies, Now: c.clock.Now}); err != nil {
		t.Fatal(err)
	}

	// The emulator, on the shared clock, behind the call log.
	ecfg := emulator.Config{Seed: 7, MaxPushes: 1_000_000, Faults: o.faults}
	for _, a := range o.apps {
		ecfg.Apps = append(ecfg.Apps, emulator.AppConfig{AppKey: a.Key, Secret: a.Secret, Users: emuUsers(a),
			Quota: emulator.Quota{Hourly: a.Hourly, Daily: a.Daily, HourWindow: a.HourWindow, DayWindow: a.DayWindow, Timezone: a.Timezone}})
	}
	if c.emu, err = emulator.New(ecfg, emulator.WithClock(c.clock.Now)); err != nil {
		t.Fatal(err)
	}
	var emuURLs []string
	c.calls, emuURLs = serveEmulator(t, c.emu, c.clock.Now)
	emuURLs = emuURLs[:configuredHosts]

	c.adminAddr = testenv.FreeAddr(t)
	c.cfgPath = filepath.Join(c.dir, "tagcast.yaml")
	if err := os.WriteFile(c.cfgPath, []byte(c.config(emuURLs, pgURL)), 0o600); err != nil {
		t.Fatal(err)
	}
	if c.admin, err = admin.NewClient("http://"+c.adminAddr, adminToken, &http.Client{Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stopAll)
	return c
}

// configuredHosts is how many of serveEmulator's hosts the cluster's
// config gives each app, primary first: both, so that the client's
// fail-over runs under the chaos faults (TestChaosExercisesFailOver).
const configuredHosts = 2

// serveEmulator serves emu as an app's two hosts, primary and backup, as a
// data center has them (DESIGN.md, pushapi.DataCenterHosts): one emulator
// (one service: one quota, one record of pushes) on two listeners behind
// one call log, which names the host of every call, so that the client's
// fail-over (after a 5xx or a timeout its next call goes to the other host;
// within a call it hops when the first did not take the request) leaves
// every call in the log on its host, each checked as a call of its send. It returns the log and the hosts' URLs, primary
// first (the cluster configures configuredHosts of them).
func serveEmulator(t *testing.T, emu http.Handler, now func() time.Time) (*callLog, []string) {
	t.Helper()
	calls := newCallLog(now)
	var urls []string
	for _, host := range []string{"primary", "backup"} {
		srv := httptest.NewServer(calls.wrap(emu, host))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	return calls, urls
}

// config is the tagcast.yaml every role process reads: each app's hosts
// are emuURLs, primary first.
func (c *cluster) config(emuURLs []string, pgURL string) string {
	quoted := make([]string, len(emuURLs))
	for i, u := range emuURLs {
		quoted[i] = strconv.Quote(u)
	}
	var b strings.Builder
	b.WriteString("apps:\n")
	for _, a := range c.opts.apps {
		fmt.Fprintf(&b, "  - name: %s\n    app_key: %s\n    app_secret_env: %s\n    hosts: [%s]\n    timeout: %s\n",
			a.Name, a.Key, a.secretEnv(), strings.Join(quoted, ", "), c.opts.appTimeout)
		fmt.Fprintf(&b, "    quota: {hourly: %d, daily: %d, hour_window: %s, day_window: %s, timezone: %s}\n",
			a.Hourly, a.Daily, a.HourWindow, a.DayWindow, a.Timezone)
	}
	fmt.Fprintf(&b, "redis:\n  url: %q\n", c.redis.URL())
	fmt.Fprintf(&b, "database:\n  url: %q\n", pgURL)
	fmt.Fprintf(&b, "admin:\n  addr: %q\n  tokens_env: TAGCAST_ADMIN_TOKENS\n  server: %q\n  token_env: TAGCAST_ADMIN_TOKEN\n",
		c.adminAddr, "http://"+c.adminAddr)
	// max_snooze: a snoozed run looks again within a second of real time,
	// since the simulated clock may jump at any moment.
	// max_attempts 8: the chaos emulator answers 10 % of calls with a 5xx,
	// so with the default 5 one send in 100,000 spends its whole retry
	// budget on injected faults and ends failed (by policy, not lost), which
	// the checks would rightly report: about one full chaos run in 40, seen
	// once. With 8 that is one send in 10^8.
	b.WriteString("worker:\n  concurrency: 20\n  shutdown_timeout: 8s\n  max_snooze: 1s\n  backoff: {max_attempts: 8}\n")
	fmt.Fprintf(&b, "scheduler:\n  interval: %s\n", schedulerInterval) // the probes rely on it (schedulerLookahead)
	b.WriteString("log:\n  level: info\n  format: json\n")
	return b.String()
}

// start starts one process of role ("worker", "scheduler", "api").
func (c *cluster) start(role string) *proc {
	c.t.Helper()
	c.mu.Lock()
	c.seq[role]++
	name := fmt.Sprintf("%s-%d", role, c.seq[role])
	c.mu.Unlock()
	p := &proc{name: name, role: role, logPath: filepath.Join(c.dir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	p.cmd = exec.Command(binary, role, "--config", c.cfgPath)
	p.cmd.Env = append(os.Environ(),
		simclock.EnvVar+"="+c.clock.Path(),
		"TAGCAST_ADMIN_TOKENS="+adminToken,
		"TAGCAST_ADMIN_TOKEN="+adminToken,
	)
	for _, a := range c.opts.apps {
		p.cmd.Env = append(p.cmd.Env, a.secretEnv()+"="+a.Secret)
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := p.cmd.Start(); err != nil {
		_ = logf.Close()
		c.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs[name] = p
	c.mu.Unlock()
	return p
}

// running lists the live processes of role.
func (c *cluster) running(role string) []*proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*proc
	for _, p := range c.procs {
		if p.role == role && !p.exited() {
			out = append(out, p)
		}
	}
	return out
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *cluster) kill(p *proc) {
	c.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("%s (pid %d) still alive 10 s after SIGKILL", p.name, p.cmd.Process.Pid)
	}
	c.mu.Lock()
	delete(c.procs, p.name)
	c.mu.Unlock()
}

// claimantOf is the name a tagcast process gives itself in the sends it
// claims.
func claimantOf(p *proc) string { return sqlstore.ClaimantName(p.cmd.Process.Pid) }

// heldBy lists the sends in flight under claims of claimant.
func (c *cluster) heldBy(ctx context.Context, claimant string) ([]int64, error) {
	rows, err := c.store.DB().QueryContext(ctx, `SELECT id FROM sends WHERE status = 'in_flight' AND claimed_by = $1`, claimant)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// stop sends SIGTERM and returns how the process ended (nil: exit 0).
func (c *cluster) stop(p *proc, timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not exit within %s of SIGTERM (killed)", p.name, timeout)
	}
	if p.err != nil {
		return fmt.Errorf("%s exited after SIGTERM with %w", p.name, p.err)
	}
	return nil
}

// stopGracefully stops every process with SIGTERM (workers first, then
// schedulers, then the api) and fails the test for any unclean exit.
func (c *cluster) stopGracefully() {
	c.t.Helper()
	for _, role := range []string{"worker", "scheduler", "api"} {
		procs := c.running(role)
		errs := make([]error, len(procs))
		var wg sync.WaitGroup
		for i, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.stop(p, 30*time.Second)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				c.t.Errorf("graceful stop: %v; log tail:\n%s", err, tailFile(procs[i].logPath, 15))
			}
		}
	}
}

// stopAll kills whatever still runs (test cleanup) and shows the logs of a
// failed test.
func (c *cluster) stopAll() {
	c.mu.Lock()
	procs := make([]*proc, 0, len(c.procs))
	for _, p := range c.procs {
		procs = append(procs, p)
	}
	c.mu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
	if c.t.Failed() {
		for _, p := range procs {
			c.t.Logf("--- %s log (tail) ---\n%s", p.name, tailFile(p.logPath, 25))
		}
		c.keepLogs(procs)
	}
}

// keepLogs copies a failed test's process logs (the test's temporary
// directory goes with it) to tmp/e2e-failed/<test>-<time>/ in the
// repository, to read whole.
func (c *cluster) keepLogs(procs []*proc) {
	dir, err := filepath.Abs(filepath.Join("..", "tmp", "e2e-failed",
		strings.ReplaceAll(c.t.Name(), "/", "_")+"-"+time.Now().UTC().Format("20060102T150405")))
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	for _, p := range procs {
		if err != nil {
			break
		}
		var b []byte
		if b, err = os.ReadFile(p.logPath); err == nil {
			err = os.WriteFile(filepath.Join(dir, p.name+".log"), b, 0o644)
		}
	}
	if err != nil {
		c.t.Logf("keeping the process logs: %v", err)
		return
	}
	c.t.Logf("process logs kept in %s", dir)
}

// waitAPI waits until the api process answers /readyz.
func (c *cluster) waitAPI(api *proc) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		if api.exited() {
			c.t.Fatalf("%s exited before it was ready (%v); log:\n%s", api.name, api.err, tailFile(api.logPath, 30))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, lastErr = c.admin.Ready(ctx)
		cancel()
		if lastErr == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s not ready within 60 s: %v; log:\n%s", api.name, lastErr, tailFile(api.logPath, 30))
}

// checkAlive fails the test when a process died on its own.
func (c *cluster) checkAlive() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, p := range c.procs {
		if p.exited() {
			errs = append(errs, fmt.Errorf("%s exited on its own (%w); log tail:\n%s", p.name, p.err, tailFile(p.logPath, 20)))
		}
	}
	return errors.Join(errs...)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
