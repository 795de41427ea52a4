package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
)

// slowPushService is the emulator answering /push.json after delay: the
// push is accepted (recorded as sent) at once, its 200 comes late, well
// inside the app's timeout. received is closed when the first push is in.
func slowPushService(t *testing.T, delay time.Duration) (string, func() int, chan struct{}) {
	t.Helper()
	emu, _ := roleEmulator(t)
	received := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != pushapi.PathPush {
			emu.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		emu.ServeHTTP(rec, r)
		once.Do(func() { close(received) })
		select {
		case <-time.After(delay): // a slow (answering) service
		case <-r.Context().Done():
			return // the caller gave up: no answer
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() int { return len(emu.PushesFor("key-main")) }, received
}

// TestShutdownTimeoutShorterThanAPushCallLosesItsOutcome: the
// configuration must not accept worker.shutdown_timeout shorter than a
// push call (here 1s against apps[0].timeout 10s; it did). A SIGTERM while a
// push is in flight had asynq cancel the task's context at
// shutdown_timeout, which cut the call: the service accepted the push (it
// answers 200 two seconds later, well inside the app's timeout), but the
// send was recorded unknown with no messageUID, and an operator's
// `retry --unknown` would send it a second time. Either the configuration
// refuses such a shutdown_timeout (it does now), or the send is recorded
// sent.
func TestShutdownTimeoutShorterThanAPushCallLosesItsOutcome(t *testing.T) {
	t.Parallel()
	emuURL, pushes, received := slowPushService(t, 2*time.Second)
	addr := testenv.FreeAddr(t)
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	cfgPath := writeFile(t, "tagcast.yaml", fmt.Sprintf(`apps:
  - name: main
    app_key: key-main
    app_secret_env: MAIN_SECRET
    hosts: [%q]
    timeout: 10s
database: {url: %q}
admin: {addr: %q, server: "http://%s", tokens_env: ROLE_TOKENS, token_env: ROLE_TOKEN}
worker: {shutdown_timeout: 1s}
scheduler: {interval: 200ms}
log: {level: info, format: json}
`, emuURL, dbURL, addr, addr))

	r := startRole(t, "--config", cfgPath, "serve")
	waitFor(t, "serve started or refused", 30*time.Second, func() bool {
		_, done := r.exited()
		return done || strings.Contains(r.stderr.String(), `"message":"tagcast started"`)
	})
	if code, done := r.exited(); done {
		if code == 1 && strings.Contains(r.stderr.String(), "worker.shutdown_timeout") {
			return // refused: a fix
		}
		t.Fatalf("serve exited %d:\n%s", code, r.stderr)
	}
	c := lifeCreateNow(t, lifeAdminClient(t, addr), "slow-answer")
	select {
	case <-received:
	case <-time.After(30 * time.Second):
		t.Fatalf("no push reached the service within 30 s:\n%s", r.stderr)
	}
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d after the signal:\n%s", code, r.stderr.Tail(10))
	}

	st, err := sqlstore.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	d, err := st.Get(context.Background(), c.ID, campaign.RunsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Runs) != 1 || len(d.Runs[0].Sends) != 1 {
		t.Fatalf("want one run with one send: %+v", d.Runs)
	}
	sd := d.Runs[0].Sends[0]
	if pushes() != 1 {
		t.Fatalf("the service accepted %d pushes, want 1", pushes())
	}
	if sd.Status != campaign.SendSent || sd.MessageUID == "" {
		t.Errorf("a push the service accepted and answered 200 within the app's 10s timeout, in flight at SIGTERM "+
			"(worker.shutdown_timeout 1s, accepted by the configuration): send recorded %s (code %d, %q, messageUID %q); "+
			"want sent with its messageUID", sd.Status, sd.LastCode, sd.LastMessage, sd.MessageUID)
	}
}
