package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/internal/testenv"
)

// TestNoPushStartsAfterTheSignal: process.stop stopped the parts one
// after another, the admin API first (serve.go stop; admin.Server.Serve
// waits up to worker.shutdown_timeout for requests in progress), and only
// then the worker (Drain, asynq Stop) and the scheduler. While one admin
// request is still in progress at SIGTERM (here: a POST whose body is still
// arriving), the scheduler goes on claiming due campaigns and the worker goes
// on taking tasks and starting pushes, for up to shutdown_timeout after the
// signal, and the worker's own shutdown_timeout only starts after that. A
// push started after SIGTERM is what a supervisor's SIGKILL (Kubernetes'
// default grace period is 30 s, the default shutdown_timeout) cuts mid-call,
// leaving its send unknown.
//
// On a simulated clock: a campaign due at t0+10m; the signal comes at
// t0 with the admin request in progress; the clock then passes the instant.
// No push may start after the signal.
func TestNoPushStartsAfterTheSignal(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	addr := testenv.FreeAddr(t)
	sv := startSimulatedServe(t, t0, func(emuURL string) string {
		return writeFile(t, "tagcast.yaml", fmt.Sprintf(`apps:
  - name: main
    app_key: key-main
    app_secret_env: MAIN_SECRET
    hosts: [%q]
    timeout: 1s
database: {url: %q}
admin: {addr: %q, server: "http://%s", tokens_env: ROLE_TOKENS, token_env: ROLE_TOKEN}
worker: {shutdown_timeout: 7s}
scheduler: {interval: 200ms}
log: {level: info, format: json}
`, emuURL, "sqlite://"+filepath.Join(t.TempDir(), "tagcast.db"), addr, addr))
	})
	clock, emu, stderr, done, signal := sv.clock, sv.emu, sv.stderr, sv.done, sv.signal
	defer func() {
		signal()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Errorf("serve still running 60 s after the signal:\n%s", stderr)
		}
	}()
	waitFor(t, "serve started", 30*time.Second, func() bool { return strings.Contains(stderr.String(), `"message":"tagcast started"`) })

	client, err := admin.NewClient("http://"+addr, roleToken, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateCampaign(context.Background(), []byte(`name: at-ten
app: main
schedule: {at: "2030-01-01T08:10:00Z"}
push: {platform: [ios], fromuserid: system, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: hello}}
`), "application/yaml"); err != nil {
		t.Fatal(err)
	}

	// An admin request in progress: its handler is reading a body that has
	// not all arrived (the server's 100 Continue says the handler reads it).
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	fmt.Fprintf(conn, "POST /v1/campaigns HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/yaml\r\n"+
		"Expect: 100-continue\r\nContent-Length: 4096\r\n\r\n", addr, roleToken)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("no 100 Continue from the admin API: %q %v", line, err)
	}
	_, _ = conn.Write([]byte("name: slow\n"))

	signal() // SIGTERM
	waitFor(t, "the stop begins", 10*time.Second, func() bool {
		return strings.Contains(stderr.String(), `"message":"signal received: shutting down"`)
	})
	if err := clock.Set(t0.Add(10*time.Minute + time.Second)); err != nil {
		t.Fatal(err)
	}
	exited := func() bool {
		select {
		case code := <-done:
			done <- code
			return true
		default:
			return false
		}
	}
	waitFor(t, "a push, the worker stopped, or the process ended", 30*time.Second, func() bool {
		return len(emu.PushesFor("key-main")) > 0 || strings.Contains(stderr.String(), `"message":"worker stopped"`) || exited()
	})
	if n := len(emu.PushesFor("key-main")); n > 0 {
		t.Errorf("%d push(es) started after SIGTERM: the worker and the scheduler kept working while the admin API drained "+
			"(worker stopped yet: %v)", n, strings.Contains(stderr.String(), `"message":"worker stopped"`))
	}
	_ = conn.Close() // let the admin API finish
}
