package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/simclock"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi/emulator"
)

const (
	roleSecret = "role-secret-5f1e0c"
	roleToken  = "role-admin-token-9b7d"
)

// waitFor polls cond (a process becoming ready, an effect showing up) until
// it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// roleEmulator is a push service emulator for app "main" with the default
// quota.
func roleEmulator(t *testing.T) (*emulator.Emulator, string) {
	t.Helper()
	emu, err := emulator.New(emulator.Config{Seed: 3, Apps: []emulator.AppConfig{{
		AppKey: "key-main", Secret: roleSecret,
		Users: []emulator.User{{ID: "lily", Tags: []string{"女", "年轻"}}, {ID: "wang", Tags: []string{"男"}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv.URL
}

// roleConfig writes a config for app "main" on emuURL; redisURL "" is the
// embedded Redis, dbURL "" a SQLite file in a temporary directory.
func roleConfig(t *testing.T, emuURL, redisURL, dbURL, adminAddr string) string {
	t.Helper()
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	}
	return writeFile(t, "tagcast.yaml", fmt.Sprintf(`apps:
  - name: main
    app_key: key-main
    app_secret_env: MAIN_SECRET
    hosts: [%q]
    timeout: 5s
redis: {url: %q}
database: {url: %q}
admin: {addr: %q, server: "http://%s", tokens_env: ROLE_TOKENS, token_env: ROLE_TOKEN}
worker: {shutdown_timeout: 10s}
scheduler: {interval: 200ms}
log: {level: info, format: json}
`, emuURL, redisURL, dbURL, adminAddr, adminAddr))
}

var roleVars = map[string]string{"MAIN_SECRET": roleSecret, "ROLE_TOKENS": roleToken, "ROLE_TOKEN": roleToken}

// runningRole is tagcast running a role command in-process.
type runningRole struct {
	cancel context.CancelFunc
	done   chan int // the exit code
	stderr *testenv.Buffer
	stdout *testenv.Buffer
}

func startRole(t *testing.T, args ...string) *runningRole {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningRole{cancel: cancel, done: make(chan int, 1), stderr: &testenv.Buffer{}, stdout: &testenv.Buffer{}}
	env := environment{
		stdin: strings.NewReader(""), stdout: r.stdout, stderr: r.stderr,
		lookupEnv: func(k string) (string, bool) { v, ok := roleVars[k]; return v, ok },
	}
	go func() { r.done <- runIn(ctx, args, env) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Errorf("%v still running 30 s after cancel", args)
		}
	})
	return r
}

// stop cancels the context (as SIGINT/SIGTERM do) and returns the exit code.
func (r *runningRole) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		r.done <- code // for the cleanup
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("not stopped within 30 s of the signal; log:\n%s", r.stderr)
		return -1
	}
}

// exited reports the exit code if the command has returned.
func (r *runningRole) exited() (int, bool) {
	select {
	case code := <-r.done:
		r.done <- code
		return code, true
	default:
		return 0, false
	}
}

// waitStarted waits for the "tagcast started" log line.
func (r *runningRole) waitStarted(t *testing.T) {
	t.Helper()
	waitFor(t, "tagcast started", 30*time.Second, func() bool {
		if code, done := r.exited(); done {
			t.Fatalf("exited %d before starting:\n%s", code, r.stderr)
		}
		return strings.Contains(r.stderr.String(), `"message":"tagcast started"`)
	})
}

// assertInOrder checks that the messages appear in the log in this order.
func assertInOrder(t *testing.T, log string, messages ...string) {
	t.Helper()
	last := -1
	for _, m := range messages {
		i := strings.Index(log, `"message":"`+m+`"`)
		if i < 0 {
			t.Errorf("log lacks %q:\n%s", m, log)
			return
		}
		if i < last {
			t.Errorf("%q logged out of order (want %q):\n%s", m, messages, log)
		}
		last = i
	}
}

func readyz(t *testing.T, addr string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+roleToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// TestRolesStartAndStopOnRedisAndPostgres runs each role on a real Redis
// and PostgreSQL, stops it as a signal does, and checks the reverse order.
func TestRolesStartAndStopOnRedisAndPostgres(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	tests := []struct {
		role    string
		started []string // logged in this order at start
		stopped []string // logged after the signal and before "tagcast stopped", in any order (the parts stop together)
	}{
		{"worker", []string{"redis connected", "store ready", "worker started"}, []string{"worker stopped"}},
		{"scheduler", []string{"redis connected", "store ready", "scheduler started"}, []string{"reconciler stopped", "scheduler stopped"}},
		{"api", []string{"redis connected", "store ready", "admin API listening"}, []string{"admin API stopped"}},
		{"serve", []string{"redis connected", "store ready", "worker started", "admin API listening"},
			[]string{"admin API stopped", "worker stopped", "reconciler stopped", "scheduler stopped"}},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			t.Parallel()
			addr := testenv.FreeAddr(t)
			cfg := roleConfig(t, emuURL, testenv.Redis(t).URL(), testenv.Postgres(t), addr)
			r := startRole(t, "--config", cfg, tt.role)
			r.waitStarted(t)
			if tt.role == "api" || tt.role == "serve" {
				waitFor(t, "/readyz 200", 10*time.Second, func() bool { return readyz(t, addr) == http.StatusOK })
			}
			if code := r.stop(t); code != 0 {
				t.Fatalf("exit %d after the signal:\n%s", code, r.stderr)
			}
			log := r.stderr.String()
			assertInOrder(t, log, tt.started...)
			assertStoppedBetween(t, log, tt.stopped...)
			if strings.Contains(log, roleSecret) || strings.Contains(log, roleToken) || strings.Contains(log, `"level":"error"`) {
				t.Errorf("log has a secret or an error:\n%s", log)
			}
		})
	}
}

func TestServeOnEmbeddedDefaults(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	addr := testenv.FreeAddr(t)
	r := startRole(t, "--config", roleConfig(t, emuURL, "", "", addr), "serve", "--concurrency", "3")
	r.waitStarted(t)
	waitFor(t, "/readyz 200", 10*time.Second, func() bool { return readyz(t, addr) == http.StatusOK })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, r.stderr)
	}
	log := r.stderr.String()
	assertInOrder(t, log, "embedded redis started (in-process; its data lives and dies with this process)", "store ready", "tagcast started",
		"signal received: shutting down", "tagcast stopped")
	assertStoppedBetween(t, log, "admin API stopped", "worker stopped", "scheduler stopped")
}

// assertStoppedBetween checks that each part's stop message is logged after
// the signal and before the process's last line. The parts stop taking work
// together at the signal (process.stop), so they may finish in any order.
func assertStoppedBetween(t *testing.T, log string, parts ...string) {
	t.Helper()
	for _, m := range parts {
		assertInOrder(t, log, "signal received: shutting down", m, "tagcast stopped")
	}
}

func TestDistributedRolesRefuseTheEmbeddedRedis(t *testing.T) {
	t.Parallel()
	cfg := roleConfig(t, "http://127.0.0.1:9", "", "", testenv.FreeAddr(t))
	for _, role := range []string{"worker", "scheduler", "api"} {
		r := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg, role)
		want := "tagcast: " + role + ": redis.url is empty: the embedded Redis lives inside one process; run `tagcast serve`, or set redis.url\n"
		if r.code != 1 || !strings.HasSuffix(r.stderr, want) {
			t.Errorf("%s: want exit 1 and %q: %s", role, want, r)
		}
	}
}

func TestRoleFlagsAreValidated(t *testing.T) {
	t.Parallel()
	cfg := roleConfig(t, "http://127.0.0.1:9", "", "", testenv.FreeAddr(t))
	r := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg, "serve", "--concurrency", "0")
	if r.code != 1 || !strings.Contains(r.stderr, "worker.concurrency: from --concurrency: must be at least 1, got 0") {
		t.Errorf("--concurrency 0: %s", r)
	}
	r = runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg, "worker", "--addr", "127.0.0.1:1")
	if r.code != 2 {
		t.Errorf("worker --addr is not a worker flag: %s", r)
	}
}

// TestServeSendsANowCampaignOnce is the end-to-end path: `tagcast serve` on
// embedded defaults, a campaign created through the admin client, the
// emulator receiving it once, `campaign show` showing its messageUID.
func TestServeSendsANowCampaignOnce(t *testing.T) {
	t.Parallel()
	emu, emuURL := roleEmulator(t)
	addr := testenv.FreeAddr(t)
	cfg := roleConfig(t, emuURL, "", "", addr)
	r := startRole(t, "--config", cfg, "serve")
	r.waitStarted(t)

	client, err := admin.NewClient("http://"+addr, roleToken, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := client.CreateCampaign(ctx, []byte(`name: hello
app: main
schedule: {now: true}
push:
  platform: [ios, android]
  fromuserid: system
  message: {objectName: AppNote, content: hi}
  audience: {tag: [女], is_to_all: false}
  notification: {title: Hi, alert: 'Sent at {{.FireTime.Format "15:04"}}'}
`), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	var det campaign.Detail
	waitFor(t, "the run done", 30*time.Second, func() bool {
		if det, err = client.GetCampaign(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		return len(det.Runs) == 1 && det.Runs[0].Status == campaign.RunDone
	})
	pushes := emu.PushesFor("key-main")
	if len(pushes) != 1 {
		t.Fatalf("emulator received %d pushes, want 1: %+v", len(pushes), pushes)
	}
	if diff := strings.Join(pushes[0].Recipients, ","); diff != "lily" {
		t.Errorf("recipients = %q, want lily", diff)
	}
	uid := pushes[0].MessageUID

	show := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg, "campaign", "show", fmt.Sprint(c.ID), "-o", "json")
	if show.code != 0 {
		t.Fatalf("campaign show: %s", show)
	}
	var shown campaign.Detail
	if err := json.Unmarshal([]byte(show.stdout), &shown); err != nil {
		t.Fatalf("campaign show -o json: %v\n%s", err, show.stdout)
	}
	if len(shown.Runs) != 1 || len(shown.Runs[0].Sends) != 1 || shown.Runs[0].Sends[0].MessageUID != uid ||
		shown.Runs[0].Sends[0].Status != campaign.SendSent {
		t.Errorf("campaign show: want one sent send with messageUID %s:\n%s", uid, show.stdout)
	}
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, r.stderr)
	}
	if n := len(emu.PushesFor("key-main")); n != 1 {
		t.Errorf("emulator received %d pushes after shutdown, want 1", n)
	}
}

// TestPushSendGoesThroughTheGuard sends three direct pushes on embedded
// defaults: each `push send` starts an empty embedded Redis, so the guard
// must rebuild the hour window from the store's ledger to refuse the third.
func TestPushSendGoesThroughTheGuard(t *testing.T) {
	t.Parallel()
	emu, emuURL := roleEmulator(t)
	dbPath := filepath.Join(t.TempDir(), "tagcast.db")
	cfg := roleConfig(t, emuURL, "", "sqlite://"+dbPath, testenv.FreeAddr(t))
	before := time.Now()
	for i := range 2 {
		r := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
		if r.code != 0 || !strings.Contains(r.stdout, "messageUID") {
			t.Fatalf("push %d: %s", i+1, r)
		}
	}
	r := runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg, "push", "send", "--app", "main", examplePushBody)
	if r.code != 1 || !strings.Contains(r.stderr, "no quota left: the hour window is full (pushes counted: 2 in the hour window, 2 in the day window); nothing sent; next opening ") {
		t.Fatalf("third push within the hour: %s", r)
	}
	r = runTagcast(t, cliEnv{vars: roleVars}, "--config", cfg, "-o", "json", "push", "send", "--app", "main", examplePushBody)
	var rep pushSendReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 || rep.Sent || !strings.Contains(rep.Error, "next opening") {
		t.Fatalf("third push, json: %v %s", err, r)
	}
	if n := len(emu.PushesFor("key-main")); n != 2 {
		t.Errorf("emulator received %d pushes, want 2", n)
	}
	if n := emu.Counters("key-main").RateLimited; n != 0 {
		t.Errorf("emulator answered 429 %d times", n)
	}

	st, err := sqlstore.Open(context.Background(), "sqlite://"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	ledger, err := st.SentBetween(context.Background(), "main", before.Add(-time.Second), time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 2 {
		t.Errorf("quota ledger has %d entries, want the 2 pushes sent: %v", len(ledger), ledger)
	}
}

// simulatedServe is `tagcast serve` running in this process on a simulated
// clock (TAGCAST_SIMULATED_CLOCK), beside an emulator of app main on the
// same clock.
type simulatedServe struct {
	clock  *simclock.Clock
	emu    *emulator.Emulator
	stderr *testenv.Buffer
	done   chan int           // receives serve's exit code
	signal context.CancelFunc // SIGTERM
}

// startSimulatedServe starts the clock at t0, the emulator and serve, with
// the configuration config writes for the emulator's URL.
func startSimulatedServe(t *testing.T, t0 time.Time, config func(emuURL string) string) *simulatedServe {
	t.Helper()
	w := newLCWorld(t, t0, 5)
	clock, emu := w.clock, w.emu
	cfg := config(w.emuURL)
	env := map[string]string{simclock.EnvVar: clock.Path()}
	for k, v := range roleVars {
		env[k] = v
	}
	ctx, signal := context.WithCancel(context.Background())
	sv := &simulatedServe{clock: clock, emu: emu, stderr: &testenv.Buffer{}, done: make(chan int, 1), signal: signal}
	go func() {
		sv.done <- runIn(ctx, []string{"--config", cfg, "serve"}, environment{
			stdin: strings.NewReader(""), stdout: &testenv.Buffer{}, stderr: sv.stderr,
			lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		})
	}()
	return sv
}

// TestServeRunsOnTheSimulatedClock: with TAGCAST_SIMULATED_CLOCK naming a
// file (the end-to-end tests' shared clock), every part reads it: the admin
// API validates `at` against it, the scheduler fires by it and the push
// client signs with it.
func TestServeRunsOnTheSimulatedClock(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	addr := testenv.FreeAddr(t)
	sv := startSimulatedServe(t, t0, func(emuURL string) string { return roleConfig(t, emuURL, "", "", addr) })
	clock, emu, stderr := sv.clock, sv.emu, sv.stderr
	defer func() {
		sv.signal()
		if code := <-sv.done; code != 0 {
			t.Errorf("exit %d:\n%s", code, stderr)
		}
	}()
	waitFor(t, "serve started", 30*time.Second, func() bool { return strings.Contains(stderr.String(), `"message":"tagcast started"`) })
	if !strings.Contains(stderr.String(), "SIMULATED CLOCK") {
		t.Errorf("the log does not say the clock is simulated:\n%s", stderr)
	}

	client, err := admin.NewClient("http://"+addr, roleToken, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// In the past by the wall clock, 10 minutes ahead on the simulated one.
	c, err := client.CreateCampaign(context.Background(), []byte(`name: new-year
app: main
schedule: {at: "2030-01-01T08:10:00Z"}
push: {platform: [ios], fromuserid: system, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: Happy new year}}
`), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := clock.Set(t0.Add(9 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(emu.PushesFor("key-main")); n != 0 {
		t.Fatalf("%d pushes before the scheduled instant", n)
	}
	if err := clock.Set(t0.Add(10*time.Minute + time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the push", 30*time.Second, func() bool { return len(emu.PushesFor("key-main")) == 1 })
	p := emu.PushesFor("key-main")[0]
	if p.ReceivedAt.Before(t0.Add(10 * time.Minute)) {
		t.Errorf("received at %s, before the scheduled instant", p.ReceivedAt)
	}
	det, err := client.GetCampaign(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(det.Runs) != 1 || !det.Runs[0].ScheduledFor.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("runs = %+v", det.Runs)
	}
}

// TestWorkerServesMetrics: a worker process without the admin API serves
// its own /metrics on --metrics-addr, so distributed workers can be scraped.
func TestWorkerServesMetrics(t *testing.T) {
	t.Parallel()
	body := roleMetrics(t, "worker")
	// A worker's per-app series start at 0, for alerts on their increase.
	for _, want := range []string{"go_goroutines", `go_sql_max_open_connections{db_name="tagcast"}`,
		`tagcast_worker_sends_total{app="main",outcome="unknown"} 0`, `tagcast_runs_expired_total{app="main"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%.2000s", want, body)
		}
	}
}

// A scheduler process serves what it and its reconciler count (stale
// sends, expired runs, at 0 from the start) and no worker series: a
// dashboard that finds workers by tagcast_worker_sends_total counted it as
// one (found by a review of the docs).
func TestSchedulerServesOnlyItsMetrics(t *testing.T) {
	t.Parallel()
	body := roleMetrics(t, "scheduler")
	for _, want := range []string{`tagcast_worker_stale_sends_total{app="main"} 0`, `tagcast_runs_expired_total{app="main"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%.2000s", want, body)
		}
	}
	for _, unwanted := range []string{"tagcast_worker_sends_total{", "tagcast_worker_fire_lag_seconds_count{", "tagcast_quota_line_waits_total{"} {
		if strings.Contains(body, unwanted) {
			t.Errorf("a scheduler's /metrics has the worker's %s series", unwanted)
		}
	}
}

// roleMetrics starts role with --metrics-addr, returns its /metrics body
// once served, and stops it (exit 0 wanted).
func roleMetrics(t *testing.T, role string) string {
	t.Helper()
	_, emuURL := roleEmulator(t)
	addr := testenv.FreeAddr(t)
	cfg := roleConfig(t, emuURL, testenv.Redis(t).URL(), testenv.Postgres(t), testenv.FreeAddr(t))
	r := startRole(t, "--config", cfg, role, "--metrics-addr", addr)
	r.waitStarted(t)
	var body string
	waitFor(t, "/metrics served", 10*time.Second, func() bool {
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer func() { _ = res.Body.Close() }()
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			return false
		}
		body = string(b)
		return true
	})
	if code := r.stop(t); code != 0 {
		t.Fatalf("%s exit %d:\n%s", role, code, r.stderr)
	}
	return body
}

// The embedded Redis listens on loopback, where any local user could
// connect and rewrite the quota windows: it requires a password only the
// process knows, so a client without it is refused.
func TestEmbeddedRedisRefusesOtherClients(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	r := startRole(t, "--config", roleConfig(t, emuURL, "", "", testenv.FreeAddr(t)), "serve")
	r.waitStarted(t)
	var line struct {
		Addr string `json:"addr"`
	}
	for _, l := range strings.Split(r.stderr.String(), "\n") {
		if strings.Contains(l, "embedded redis started") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line.Addr == "" {
		t.Fatalf("no embedded redis address in the log:\n%s", r.stderr)
	}
	c := redis.NewClient(&redis.Options{Addr: line.Addr})
	defer func() { _ = c.Close() }()
	err := c.Set(context.Background(), "tagcast:quota:main:blocked", "0", 0).Err()
	if err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("a client without the password: SET = %v; want NOAUTH", err)
	}
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, r.stderr)
	}
}

// A start that fails on its HTTP port fails before any part works: the
// scheduler has claimed nothing. It once started the scheduler and the
// worker first, so a serve refused for a taken port could claim a due
// campaign whose run then waited for the next start.
func TestAServeRefusedForItsPortClaimsNothing(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := campaign.ParseFile([]byte(`name: due
app: main
schedule: {now: true}
push:
  platform: [ios]
  fromuserid: system
  message: {objectName: AppNote, content: hi}
  audience: {is_to_all: true}
  notification: {alert: hello}
`), campaign.ValidateOptions{Apps: []string{"main"}, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = st.Create(ctx, c, time.Now()); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()

	r := runTagcast(t, cliEnv{vars: roleVars}, "--config", roleConfig(t, emuURL, "", dbURL, taken.Addr().String()), "serve")
	if r.code != 1 || !strings.Contains(r.stderr, "admin.addr") {
		t.Fatalf("serve on a taken port: %s; want exit 1 naming admin.addr", r)
	}
	d, err := st.Get(ctx, c.ID, campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != campaign.CampaignActive || len(d.Runs) != 0 {
		t.Errorf("after the refused start: campaign %s with %d runs; want it untouched (active, no run)", d.Status, len(d.Runs))
	}
}
