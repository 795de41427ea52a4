package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
)

const emulatorYAML = `
seed: 3
freshness: 1m
faults:
  latency: 1ms
apps:
  - name: main            # a tagcast config key the emulator ignores
    app_key: k1
    app_secret_env: K1_SECRET
    quota: {hourly: 2, daily: 3, hour_window: clock, day_window: calendar, timezone: UTC}
    users:
      - {id: amy, tags: [女, 北京]}
`

// The emulator command serves a YAML config merged with flags, and stops
// cleanly when its context ends (SIGINT/SIGTERM in the real binary).
func TestEmulatorCommand(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "emulator.yaml")
	writeTestFile(t, path, emulatorYAML)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	stderr := &lockedWriter{w: &strings.Builder{}}
	env := environment{
		stdin: strings.NewReader(""), stdout: outW, stderr: stderr,
		lookupEnv: func(name string) (string, bool) {
			if name == "K1_SECRET" {
				return "s1", true
			}
			return "", false
		},
	}
	done := make(chan int, 1)
	go func() {
		done <- runIn(ctx, []string{"emulator", "--config", path, "--addr", "127.0.0.1:0", "--output", "json",
			"--app", "k2:s2", "--disabled", "k2", "--hourly", "5"}, env)
		_ = outW.Close()
	}()

	line, err := bufio.NewReader(outR).ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading the banner: %v (stderr: %s)", err, stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	var banner emulatorBanner
	if err := json.Unmarshal(line, &banner); err != nil {
		t.Fatalf("banner %q: %v", line, err)
	}
	want := []emulatorAppLine{
		{AppKey: "k1", Quota: emulator.Quota{Hourly: 5, Daily: 3, HourWindow: "clock", DayWindow: "calendar", Timezone: "UTC"}},
		{AppKey: "k2", PushDisabled: true, Quota: emulator.Quota{Hourly: 5, Daily: 3, HourWindow: "rolling", DayWindow: "calendar", Timezone: "Asia/Shanghai"}},
	}
	if diff := cmp.Diff(want, banner.Apps); diff != "" {
		t.Fatalf("apps (-want +got):\n%s", diff)
	}
	if strings.Contains(string(line), "s1") || strings.Contains(string(line), "s2") {
		t.Errorf("banner shows a secret: %s", line)
	}

	client := func(key, secret string) *pushapi.Client {
		c, err := pushapi.NewClient(pushapi.ClientConfig{AppKey: key, AppSecret: pushapi.NewSecret(secret), Hosts: []string{banner.URL}, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	req := &pushapi.Request{
		Platform: []string{"ios"}, FromUserID: "system",
		Message:      &pushapi.Message{ObjectName: "RC:TxtMsg", Content: `{"content":"hello"}`},
		Audience:     pushapi.Audience{Tag: []string{"女"}},
		Notification: &pushapi.Notification{Alert: "hello"},
	}
	if _, err := client("k1", "s1").Push(ctx, req); err != nil {
		t.Fatalf("push to k1: %v", err)
	}
	var e *pushapi.Error
	if _, err := client("k2", "s2").Push(ctx, req); !errors.As(err, &e) || e.HTTPStatus != 430 {
		t.Fatalf("push to disabled k2: %v, want 430", err)
	}
	var pushes struct{ Pushes []emulator.Push }
	getJSON(t, banner.Control+"pushes", &pushes)
	if len(pushes.Pushes) != 1 || !cmp.Equal(pushes.Pushes[0].Recipients, []string{"amy"}) {
		t.Fatalf("pushes = %+v", pushes.Pushes)
	}
	var faults emulator.Faults
	getJSON(t, banner.Control+"faults", &faults)
	if faults.Latency != emulator.Duration(time.Millisecond) {
		t.Errorf("faults from YAML = %+v", faults)
	}

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr.String())
	}
}

func TestEmulatorCommandRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badWindow := filepath.Join(dir, "bad.yaml")
	writeTestFile(t, badWindow, "apps:\n  - {app_key: k, app_secret: s, quota: {hour_window: weekly}}\n")
	noSecret := filepath.Join(dir, "nosecret.yaml")
	writeTestFile(t, noSecret, "apps:\n  - {app_key: k, app_secret_env: MISSING_SECRET}\n")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no apps", []string{"emulator"}, 2, "no apps to serve"},
		{"bad --app", []string{"emulator", "--app", "justakey"}, 2, "--app: want KEY:SECRET"},
		{"unknown --disabled", []string{"emulator", "--app", "k:s", "--disabled", "other"}, 2, `--disabled: no app with App Key "other"`},
		// A flag's value is a usage error naming the flag, not the key it sets.
		{"bad fault fraction", []string{"emulator", "--app", "k:s", "--error-500", "2"}, 2, "--error-500: must be a fraction in [0, 1], got 2"},
		{"bad hour window flag", []string{"emulator", "--app", "k:s", "--hour-window", "weekly"}, 2, "--hour-window: must be rolling or clock"},
		{"bad hour window in file", []string{"emulator", "--config", badWindow}, 1, "apps[0].quota.hour_window: must be rolling or clock"},
		{"secret variable unset", []string{"emulator", "--config", noSecret}, 1, "apps[0].app_secret_env: variable MISSING_SECRET is not set"},
		{"config file missing", []string{"emulator", "--config", filepath.Join(dir, "none.yaml")}, 1, "none.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runTagcast(t, cliEnv{}, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("want exit %d with %q; got %s", tt.code, tt.want, r)
			}
		})
	}
}

// lockedWriter serialises writes from the command's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprint(l.w)
}

func writeTestFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
