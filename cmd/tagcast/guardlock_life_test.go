package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
)

// lifeAdminClient is an admin API client of the process on addr.
func lifeAdminClient(t *testing.T, addr string) *admin.Client {
	t.Helper()
	c, err := admin.NewClient("http://"+addr, roleToken, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lifeCreateNow creates a `now` campaign of app main through client.
func lifeCreateNow(t *testing.T, client *admin.Client, name string) campaign.Campaign {
	t.Helper()
	c, err := client.CreateCampaign(context.Background(), []byte(`name: `+name+`
app: main
schedule: {now: true}
push:
  platform: [ios, android]
  fromuserid: system
  message: {objectName: AppNote, content: hi}
  audience: {is_to_all: true}
  notification: {alert: hello}
`), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A process on a shared Redis is as blind to an embedded guard's windows as
// a second embedded one, and the other way round: it takes the store's
// guard lock shared, the embedded one exclusively, so a `push send` beside
// a running `serve` on the same store, one on an embedded Redis and the
// other on a shared one, is refused. It once took no lock, and the two
// together went over the app's hourly quota of 2 (the service answered 429).
func TestSharedAndEmbeddedGuardsDoNotShareAStore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, serveRedis, pushRedis string }{
		{"embedded serve, push send on a shared redis", "", testenv.Redis(t).URL()},
		{"serve on a shared redis, embedded push send", testenv.Redis(t).URL(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu, emuURL := roleEmulator(t)
			dbURL := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
			addr := testenv.FreeAddr(t)
			serve := startRole(t, "--config", roleConfig(t, emuURL, tc.serveRedis, dbURL, addr), "serve")
			serve.waitStarted(t)
			client := lifeAdminClient(t, addr)

			// serve sends one push: its guard counts 1 this hour.
			lifeCreateNow(t, client, "first")
			waitFor(t, "serve's first push", 30*time.Second, func() bool { return len(emu.PushesFor("key-main")) == 1 })

			// Another process sends for the same store through a guard of its
			// own (rebuilt from the ledger: 1 used, 1 left).
			other := roleConfig(t, emuURL, tc.pushRedis, dbURL, testenv.FreeAddr(t))
			r := runTagcast(t, cliEnv{vars: roleVars}, "--config", other, "push", "send", "--app", "main", examplePushBody)
			if r.code != 0 {
				if strings.Contains(r.stderr, "another tagcast process") {
					return // refused while serve sends for the store: what the lock promises
				}
				t.Fatalf("push send: %s", r)
			}

			// serve's guard still counts 1 of 2 and lets a second campaign
			// through: the third push of the hour.
			lifeCreateNow(t, client, "second")
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) && emu.Counters("key-main").RateLimited == 0 && len(emu.PushesFor("key-main")) < 3 {
				time.Sleep(50 * time.Millisecond)
			}
			if n, rl := len(emu.PushesFor("key-main")), emu.Counters("key-main").RateLimited; n > 2 || rl > 0 {
				t.Errorf("hourly quota 2 exceeded: `push send` was not refused while `serve` sent for the same store "+
					"through another guard; the service accepted %d pushes and answered 429 %d times", n, rl)
			}
		})
	}
}

// On PostgreSQL the guard lock is a session advisory lock. When that
// session ends while the process runs (a PostgreSQL restart or fail-over,
// idle_session_timeout, a proxy or firewall dropping an idle connection;
// here pg_terminate_backend), the process notices within
// guardLockCheckEvery and stops, or a second embedded `serve` is refused. It
// once took the lock and never checked it again: the second started, and
// two processes each counted only their own pushes.
func TestAGuardLockLostWithItsSessionStopsTheProcess(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	dbURL := testenv.Postgres(t)
	first := startRole(t, "--config", roleConfig(t, emuURL, "", dbURL, testenv.FreeAddr(t)), "serve")
	first.waitStarted(t)

	ctx := context.Background()
	st, err := sqlstore.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	var pid int
	if err := st.DB().QueryRowContext(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&pid); err != nil {
		t.Fatalf("the guard's advisory lock: %v", err)
	}
	var ok bool
	if err := st.DB().QueryRowContext(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate the lock's session: %v %v", ok, err)
	}

	second := startRole(t, "--config", roleConfig(t, emuURL, "", dbURL, testenv.FreeAddr(t)), "serve")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if code, done := second.exited(); done {
			if code == 1 && strings.Contains(second.stderr.String(), "another tagcast process") {
				return // refused
			}
			t.Fatalf("second serve exited %d:\n%s", code, second.stderr)
		}
		if _, done := first.exited(); done {
			return // the first noticed it lost the lock and stopped
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("two `serve` processes with embedded Redis run on one store: the first lost its guard lock with its " +
		"PostgreSQL session and went on sending; the second took the lock and started")
}

// The guard lock holds its PostgreSQL connection outside the store's pool:
// with database.max_open_conns 1 the process still works. The lock once
// held the pool's only connection, and every store call (claims, sends, the
// admin API, /readyz) waited for it for ever.
func TestTheGuardLockTakesNoConnectionOfThePool(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	addr := testenv.FreeAddr(t)
	cfg := writeFile(t, "tagcast.yaml", fmt.Sprintf(`apps:
  - name: main
    app_key: key-main
    app_secret_env: MAIN_SECRET
    hosts: [%q]
    timeout: 5s
redis: {url: ""}
database: {url: %q, max_open_conns: 1}
admin: {addr: %q, server: "http://%s", tokens_env: ROLE_TOKENS, token_env: ROLE_TOKEN}
worker: {shutdown_timeout: 10s}
scheduler: {interval: 200ms}
log: {level: info, format: json}
`, emuURL, testenv.Postgres(t), addr, addr))
	r := startRole(t, "--config", cfg, "serve")
	r.waitStarted(t)
	var last string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+roleToken)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", res.StatusCode, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("serve on PostgreSQL with an embedded Redis and max_open_conns 1 started but never became ready "+
		"(the guard lock holds the pool's only connection); last /readyz: %s", last)
}

// dbProxy forwards TCP connections to target. Frozen, it stops passing
// bytes on (a hung database host or a partitioned network) while the
// connections stay open; with a delay set, it holds every answer of the
// server that long (a slow, still answering database) and reports on sent
// each request it passes on.
type dbProxy struct {
	ln   net.Listener
	sent chan struct{} // a request passed while a delay was set

	mu     sync.Mutex
	thawed chan struct{} // closed while bytes flow
	delay  time.Duration
	conns  []net.Conn
	// pattern and hook: see arm.
	pattern []byte
	hook    func()
}

// arm makes the proxy run hook (once) just before it passes on the first
// client bytes holding pattern: the test acts at a chosen point of a
// process's talk with the database, deterministically.
func (p *dbProxy) arm(pattern string, hook func()) {
	p.mu.Lock()
	p.pattern, p.hook = []byte(pattern), hook
	p.mu.Unlock()
}

// proxiedPostgres is a throwaway PostgreSQL behind a dbProxy, and the URL
// that reaches it through the proxy.
func proxiedPostgres(t *testing.T) (*dbProxy, string) {
	t.Helper()
	dbURL := testenv.Postgres(t)
	hostPort := strings.SplitN(strings.TrimPrefix(dbURL, "postgres://postgres@"), "/", 2)
	proxy := newDBProxy(t, hostPort[0])
	return proxy, "postgres://postgres@" + proxy.ln.Addr().String() + "/" + hostPort[1]
}

// stacksOf lists, from every goroutine's stack whose text holds
// goroutineHas, the lines holding one of lineHas: where a stop is stuck.
func stacksOf(goroutineHas string, lineHas ...string) string {
	buf := make([]byte, 1<<22)
	stacks := string(buf[:runtime.Stack(buf, true)])
	var stuck strings.Builder
	for _, g := range strings.Split(stacks, "\n\n") {
		if !strings.Contains(g, goroutineHas) {
			continue
		}
		for _, l := range strings.Split(g, "\n") {
			for _, h := range lineHas {
				if strings.Contains(l, h) {
					stuck.WriteString(l + "\n")
					break
				}
			}
		}
		stuck.WriteString("--\n")
	}
	return stuck.String()
}

func newDBProxy(t *testing.T, target string) *dbProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{ln: ln, sent: make(chan struct{}, 1), thawed: make(chan struct{})}
	close(p.thawed)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go p.pipe(u, c, true)
			go p.pipe(c, u, false)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		p.thaw()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *dbProxy) pipe(dst, src net.Conn, toServer bool) {
	buf := make([]byte, 32<<10)
	var tail []byte // the end of what went before, for a pattern split across reads
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if toServer {
				seen := append(append([]byte(nil), tail...), buf[:n]...)
				p.mu.Lock()
				var hook func()
				if p.hook != nil && bytes.Contains(seen, p.pattern) {
					hook, p.hook = p.hook, nil
				}
				p.mu.Unlock()
				if hook != nil {
					hook()
				}
				tail = seen[max(0, len(seen)-128):]
			}
			p.mu.Lock()
			gate, d := p.thawed, p.delay
			p.mu.Unlock()
			<-gate
			switch {
			case d > 0 && toServer:
				select {
				case p.sent <- struct{}{}:
				default:
				}
			case d > 0:
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

func (p *dbProxy) freeze() {
	p.mu.Lock()
	p.thawed = make(chan struct{})
	p.mu.Unlock()
}

func (p *dbProxy) thaw() {
	p.mu.Lock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
	p.mu.Unlock()
}

func (p *dbProxy) setDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// A graceful stop ends within a bound when the database stops answering (a
// hung host, a partition): releasing the guard lock gives up after
// guardLockTimeout like every other step. It once waited for ever, and
// SIGTERM never ended the process.
func TestStopIsBoundedWhenTheStoreHangs(t *testing.T) {
	t.Parallel()
	_, emuURL := roleEmulator(t)
	proxy, proxied := proxiedPostgres(t)
	r := startRole(t, "--config", roleConfig(t, emuURL, "", proxied, testenv.FreeAddr(t)), "serve")
	t.Cleanup(proxy.thaw) // runs before startRole's cleanup: lets a hung stop finish
	r.waitStarted(t)

	proxy.freeze()
	r.cancel() // SIGTERM
	select {
	case code := <-r.done:
		r.done <- code // for startRole's cleanup
	case <-time.After(60 * time.Second):
		stuck := stacksOf("(*deps).close", "tagcast/cmd/tagcast.")
		t.Errorf("serve still stopping 60 s after the signal with the database not answering (worker.shutdown_timeout 10s); log tail:\n%s\nstuck in:\n%s",
			r.stderr.Tail(3), stuck)
	}
}
