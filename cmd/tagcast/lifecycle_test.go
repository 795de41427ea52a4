package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/simclock"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
)

// lcWorld is a simulated clock and an emulator of app main on it, shared
// by successive tagcast processes (restarts) of one test.
type lcWorld struct {
	clock  *simclock.Clock
	emu    *emulator.Emulator
	emuURL string
}

func newLCWorld(t *testing.T, t0 time.Time, seed uint64) *lcWorld {
	t.Helper()
	clock, err := simclock.Create(filepath.Join(t.TempDir(), "clock"), t0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(clock.Close)
	emu, err := emulator.New(emulator.Config{Seed: seed, Apps: []emulator.AppConfig{{AppKey: "key-main", Secret: roleSecret}}},
		emulator.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &lcWorld{clock: clock, emu: emu, emuURL: srv.URL}
}

// serve starts `tagcast serve` in-process on the world's clock.
func (w *lcWorld) serve(t *testing.T, cfg string) *runningRole {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningRole{cancel: cancel, done: make(chan int, 1), stderr: &testenv.Buffer{}, stdout: &testenv.Buffer{}}
	vars := map[string]string{simclock.EnvVar: w.clock.Path()}
	for k, v := range roleVars {
		vars[k] = v
	}
	env := environment{
		stdin: strings.NewReader(""), stdout: r.stdout, stderr: r.stderr,
		lookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
	}
	go func() { r.done <- runIn(ctx, []string{"--config", cfg, "serve"}, env) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Errorf("serve still running 30 s after cancel")
		}
	})
	return r
}

// lcConfig is an embedded (no redis.url) configuration on dbURL with short
// waits, so that a run waiting for the quota snoozes (and says so) soon.
func lcConfig(t *testing.T, emuURL, dbURL, addr string) string {
	t.Helper()
	return lcSharedConfig(t, emuURL, "", dbURL, addr)
}

// lcSharedConfig is lcConfig on the Redis at redisURL ("": embedded).
func lcSharedConfig(t *testing.T, emuURL, redisURL, dbURL, addr string) string {
	t.Helper()
	return writeFile(t, "tagcast.yaml", fmt.Sprintf(`apps:
  - name: main
    app_key: key-main
    app_secret_env: MAIN_SECRET
    hosts: [%q]
    timeout: 5s
redis: {url: %q}
database: {url: %q}
admin: {addr: %q, server: "http://%s", tokens_env: ROLE_TOKENS, token_env: ROLE_TOKEN}
worker: {shutdown_timeout: 11s, inline_wait: 1s, max_snooze: 2s, snooze_lead: 500ms}
scheduler: {interval: 200ms}
log: {level: info, format: json}
`, emuURL, redisURL, dbURL, addr, addr))
}

// twoSentOneWaiting creates three campaigns due now (the hourly quota is
// 2) and waits until two pushes went out and the third run snoozed for the
// quota, by the log in stderr; it returns the campaigns and that run's id.
func (w *lcWorld) twoSentOneWaiting(t *testing.T, client *admin.Client, stderr *testenv.Buffer) (ids []int64, waiting int64) {
	t.Helper()
	for i := range 3 {
		ids = append(ids, lifeCreateNow(t, client, fmt.Sprintf("c%d", i)).ID)
	}
	waitFor(t, "two pushes and a run snoozed for the quota", 30*time.Second, func() bool {
		if len(w.emu.PushesFor("key-main")) < 2 {
			return false
		}
		for _, id := range ids {
			d, err := client.GetCampaign(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Runs) == 1 && d.Runs[0].Status != campaign.RunDone && countSnoozes(stderr.String(), d.Runs[0].ID) > 0 {
				waiting = d.Runs[0].ID
				return true
			}
		}
		return false
	})
	return ids, waiting
}

// An embedded serve keeps the queue and the guard's windows in its own
// memory: a restart loses both. A run waiting for the quota when the
// process stops must still go out exactly once after the restart, and not
// before its window reopens (the windows rebuilt from the store).
func TestLifecycleEmbeddedRestartKeepsTheQuotaAndTheWaitingRun(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	w := newLCWorld(t, t0, 11)
	addr := testenv.FreeAddr(t)
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	cfg := lcConfig(t, w.emuURL, dbURL, addr)

	first := w.serve(t, cfg)
	first.waitStarted(t)
	client := lifeAdminClient(t, addr)
	// Two go out (2 an hour), the third waits for the hour window.
	ids, waiting := w.twoSentOneWaiting(t, client, first.stderr)
	if code := first.stop(t); code != 0 {
		t.Fatalf("first serve: exit %d:\n%s", code, first.stderr.Tail(20))
	}

	second := w.serve(t, cfg)
	second.waitStarted(t)
	// The restarted process finds the waiting run (its task was lost with
	// the embedded Redis) and waits for the quota again.
	waitFor(t, "the waiting run snoozed for the quota after the restart", 30*time.Second, func() bool {
		return countSnoozes(second.stderr.String(), waiting) > 0
	})
	if n := len(w.emu.PushesFor("key-main")); n != 2 {
		t.Fatalf("after the restart, within the hour: %d pushes, want 2:\n%s", n, second.stderr.Tail(30))
	}
	// The hour window reopens: the waiting run goes out, once.
	if err := w.clock.Set(t0.Add(61 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the waiting run sent", 30*time.Second, func() bool { return len(w.emu.PushesFor("key-main")) >= 3 })
	if code := second.stop(t); code != 0 {
		t.Fatalf("second serve: exit %d:\n%s", code, second.stderr.Tail(20))
	}
	if n := len(w.emu.PushesFor("key-main")); n != 3 {
		t.Errorf("%d pushes, want 3", n)
	}
	if n := w.emu.Counters("key-main").RateLimited; n != 0 {
		t.Errorf("the service answered 429 %d times", n)
	}
	st, err := sqlstore.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	for _, id := range ids {
		d, err := st.Get(context.Background(), id, campaign.RunsQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Runs) != 1 || len(d.Runs[0].Sends) != 1 || d.Runs[0].Sends[0].Status != campaign.SendSent {
			t.Errorf("campaign %d: want one run with one sent send: %+v", id, d.Runs)
		}
	}
}

// hangingPushService is the emulator, except that while hang is set a
// /push.json call is accepted (the emulator records the push) and then
// never answered: the caller's process dies with the call on the wire.
// received is closed at the first such call.
func (w *lcWorld) hangingPushService(t *testing.T) (url string, hang *atomic.Bool, received chan struct{}) {
	t.Helper()
	hang = &atomic.Bool{}
	hang.Store(true)
	received = make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != pushapi.PathPush || !hang.Load() {
			w.emu.ServeHTTP(rw, r)
			return
		}
		w.emu.ServeHTTP(httptest.NewRecorder(), r)
		once.Do(func() { close(received) })
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, hang, received
}

// startServeProcess runs `tagcast serve` as a child process (the test
// binary re-executed) on the world's clock, to be killed.
func (w *lcWorld) startServeProcess(t *testing.T, cfg string) (*exec.Cmd, *testenv.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "--config", cfg, "serve")
	cmd.Env = append(os.Environ(), reexecVar+"=1", simclock.EnvVar+"="+w.clock.Path())
	for k, v := range roleVars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr := &testenv.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	waitFor(t, "serve (child) started", 60*time.Second, func() bool {
		return strings.Contains(stderr.String(), `"message":"tagcast started"`)
	})
	return cmd, stderr
}

// An embedded serve killed (kill -9, OOM, power) with a push on the wire:
// the service took that push, and it counts in the hour window the
// restarted process rebuilds from the store. Only one more push may go out
// in the hour (2 an hour), and the killed call's send is never sent again.
func TestLifecycleEmbeddedKillMidCallCountsTheCallAfterTheRestart(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	w := newLCWorld(t, t0, 11)
	url, hang, received := w.hangingPushService(t)
	addr := testenv.FreeAddr(t)
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	cfg := lcConfig(t, url, dbURL, addr)

	child, childLog := w.startServeProcess(t, cfg)
	client := lifeAdminClient(t, addr)
	killed := lifeCreateNow(t, client, "killed-mid-call")
	select {
	case <-received:
	case <-time.After(30 * time.Second):
		t.Fatalf("no push reached the service:\n%s", childLog.Tail(20))
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = child.Process.Wait()
	hang.Store(false)

	second := w.serve(t, cfg)
	second.waitStarted(t)
	b := lifeCreateNow(t, client, "b")
	c := lifeCreateNow(t, client, "c")
	// One of b and c fits in the hour, the other waits for the quota.
	waitFor(t, "one more push and one run snoozed for the quota", 30*time.Second, func() bool {
		if w.emu.Counters("key-main").RateLimited > 0 || len(w.emu.PushesFor("key-main")) > 2 {
			return true // over the quota: reported below
		}
		if len(w.emu.PushesFor("key-main")) < 2 {
			return false
		}
		for _, id := range []int64{b.ID, c.ID} {
			d, err := client.GetCampaign(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Runs) == 1 && countSnoozes(second.stderr.String(), d.Runs[0].ID) > 0 {
				return true
			}
		}
		return false
	})
	// The killed call's lease lapses (2 minutes): it is settled unknown,
	// never sent again.
	if err := w.clock.Set(t0.Add(5 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the killed call's send settled", 30*time.Second, func() bool {
		d, err := client.GetCampaign(context.Background(), killed.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(d.Runs) == 1 && len(d.Runs[0].Sends) == 1 && d.Runs[0].Sends[0].Status != campaign.SendInFlight
	})
	if code := second.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, second.stderr.Tail(20))
	}
	if n, rl := len(w.emu.PushesFor("key-main")), w.emu.Counters("key-main").RateLimited; n != 2 || rl != 0 {
		t.Errorf("within the first hour the service received %d pushes and answered 429 %d times; want 2 and 0 "+
			"(the killed call's push and one more)", n, rl)
	}
	d, err := client.GetCampaign(context.Background(), killed.ID)
	if err == nil && d.Runs[0].Sends[0].Status != campaign.SendUnknown {
		t.Errorf("the killed call's send ended %s, want unknown", d.Runs[0].Sends[0].Status)
	}
}

// gatedPushService is the emulator, except that a /push.json call is
// accepted (the emulator records the push) and its answer held until
// release is closed. received is closed at the first call.
func (w *lcWorld) gatedPushService(t *testing.T) (url string, received, release chan struct{}) {
	t.Helper()
	received, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != pushapi.PathPush {
			w.emu.ServeHTTP(rw, r)
			return
		}
		rec := httptest.NewRecorder()
		w.emu.ServeHTTP(rec, r)
		once.Do(func() { close(received) })
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		rw.WriteHeader(rec.Code)
		_, _ = rw.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL, received, release
}

// SIGTERM with a push on the wire: the call finishes (its answer comes
// after the signal, well inside the app's timeout), the send is recorded
// sent with its messageUID, the process exits 0, and the restarted process
// never sends it again.
func TestLifecycleSignalMidCallRecordsTheSendOnce(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	w := newLCWorld(t, t0, 11)
	url, received, release := w.gatedPushService(t)
	addr := testenv.FreeAddr(t)
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	cfg := lcConfig(t, url, dbURL, addr)

	first := w.serve(t, cfg)
	first.waitStarted(t)
	client := lifeAdminClient(t, addr)
	c := lifeCreateNow(t, client, "mid-call")
	select {
	case <-received:
	case <-time.After(30 * time.Second):
		t.Fatalf("no push reached the service:\n%s", first.stderr.Tail(20))
	}
	first.cancel() // SIGTERM
	waitFor(t, "the signal seen", 30*time.Second, func() bool {
		return strings.Contains(first.stderr.String(), `"message":"signal received: shutting down"`)
	})
	close(release)
	if code := first.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, first.stderr.Tail(20))
	}
	st, err := sqlstore.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.Get(context.Background(), c.ID, campaign.RunsQuery{})
	_ = st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Runs) != 1 || len(d.Runs[0].Sends) != 1 {
		t.Fatalf("want one run with one send: %+v", d.Runs)
	}
	if sd := d.Runs[0].Sends[0]; sd.Status != campaign.SendSent || sd.MessageUID == "" {
		t.Errorf("send in flight at the signal recorded %s (messageUID %q), want sent", sd.Status, sd.MessageUID)
	}

	second := w.serve(t, cfg)
	second.waitStarted(t)
	lifeCreateNow(t, client, "after")
	waitFor(t, "the second campaign's push", 30*time.Second, func() bool { return len(w.emu.PushesFor("key-main")) >= 2 })
	if code := second.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, second.stderr.Tail(20))
	}
	if n := len(w.emu.PushesFor("key-main")); n != 2 {
		t.Errorf("%d pushes, want 2 (one per campaign)", n)
	}
}

// countSnoozes counts the log's quota snoozes of run id.
func countSnoozes(log string, run int64) int {
	n := 0
	for line := range strings.Lines(log) {
		if strings.Contains(line, `"message":"run snoozed"`) && strings.Contains(line, `"reason":"quota"`) &&
			strings.Contains(line, fmt.Sprintf(`"run":%d,`, run)) {
			n++
		}
	}
	return n
}

// A shared Redis restarted empty while a run waits for the quota (the
// queue and the guard's windows lost): the run is found again and waits
// for its window, rebuilt from the store, and then goes out once.
func TestLifecycleSharedRedisRestartKeepsTheWaitingRun(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	w := newLCWorld(t, t0, 11)
	rs := testenv.Redis(t)
	addr := testenv.FreeAddr(t)
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	cfg := lcSharedConfig(t, w.emuURL, rs.URL(), dbURL, addr)

	r := w.serve(t, cfg)
	r.waitStarted(t)
	client := lifeAdminClient(t, addr)
	_, waiting := w.twoSentOneWaiting(t, client, r.stderr)
	rs.Restart(t)
	// The reconciler's next pass (10 s of the clock) finds the lost task.
	if err := w.clock.Set(t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run re-enqueued", 30*time.Second, func() bool {
		return strings.Contains(r.stderr.String(), `"message":"open run had no task: re-enqueued"`)
	})
	before := countSnoozes(r.stderr.String(), waiting)
	waitFor(t, "the run snoozed for the quota again", 30*time.Second, func() bool {
		return countSnoozes(r.stderr.String(), waiting) > before
	})
	if n := len(w.emu.PushesFor("key-main")); n != 2 {
		t.Fatalf("after the Redis restart, within the hour: %d pushes, want 2:\n%s", n, r.stderr.Tail(30))
	}
	if err := w.clock.Set(t0.Add(61 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the waiting run sent", 30*time.Second, func() bool { return len(w.emu.PushesFor("key-main")) >= 3 })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, r.stderr.Tail(20))
	}
	if n, rl := len(w.emu.PushesFor("key-main")), w.emu.Counters("key-main").RateLimited; n != 3 || rl != 0 {
		t.Errorf("%d pushes and %d 429s, want 3 and 0", n, rl)
	}
}

// A process refused by the store's guard lock (here a `push send` on an
// embedded Redis beside a running embedded serve, README: "refused while it
// runs") had already migrated the store and recorded its configuration's
// App Keys: buildStore ran before lockGuard. Its configuration gave app
// main another App Key (a wrong file, a staging copy), and that record
// replaced main's real one. So the rename check no longer saw main's key:
// once serve stopped, the same key under a new name was accepted with empty
// windows, and pushes went out over the key's hourly quota of 2 (the
// service answered 429). Now the lock comes first, and a refused process writes
// nothing to the store.
func TestLifecycleARefusedStartLeavesTheStoreUntouched(t *testing.T) {
	t.Parallel()
	emu, emuURL := roleEmulator(t)
	addr := testenv.FreeAddr(t)
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	cfg := roleConfig(t, emuURL, "", dbURL, addr)
	serve := startRole(t, "--config", cfg, "serve")
	serve.waitStarted(t)
	client := lifeAdminClient(t, addr)
	lifeCreateNow(t, client, "one")
	lifeCreateNow(t, client, "two")
	waitFor(t, "two pushes", 30*time.Second, func() bool { return len(emu.PushesFor("key-main")) == 2 })

	cfgText, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := writeFile(t, "wrong-key.yaml", strings.Replace(string(cfgText), "app_key: key-main", "app_key: key-of-staging", 1))
	r := runTagcast(t, cliEnv{vars: roleVars}, "--config", wrongKey, "push", "send", "--app", "main", examplePushBody)
	if r.code != 1 || !strings.Contains(r.stderr, "another tagcast process works for this store") {
		t.Fatalf("push send beside the running serve: %s; want refused by the guard lock", r)
	}
	if code := serve.stop(t); code != 0 {
		t.Fatalf("serve: exit %d:\n%s", code, serve.stderr.Tail(10))
	}

	renamed := writeFile(t, "renamed.yaml", strings.Replace(string(cfgText), "name: main", "name: marketing", 1))
	r = runTagcast(t, cliEnv{vars: roleVars}, "--config", renamed, "push", "send", "--app", "marketing", examplePushBody)
	if r.code != 1 || !strings.Contains(r.stderr, "recorded in this store for app main") {
		t.Errorf("app main renamed marketing (same App Key) after a refused start with another key for main: %s\n"+
			"want refused naming `migrate rename-app main marketing`; the service now counts %d pushes of the key this hour (quota 2) and answered 429 %d times",
			r, len(emu.PushesFor("key-main")), emu.Counters("key-main").RateLimited)
	}
}
