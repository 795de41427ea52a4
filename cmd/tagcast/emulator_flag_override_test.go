package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/pushapi/emulator"
)

// startEmulatorCmd runs `tagcast <args>` (an emulator command with
// --output json) until its banner; it returns the banner, or the exit code
// and stderr when the command ended without serving. stop ends a served one.
func startEmulatorCmd(t *testing.T, args ...string) (banner *emulatorBanner, code int, stderrText string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	stderr := &lockedWriter{w: &strings.Builder{}}
	env := environment{stdin: strings.NewReader(""), stdout: outW, stderr: stderr,
		lookupEnv: func(string) (string, bool) { return "", false }}
	done := make(chan int, 1)
	go func() {
		done <- runIn(ctx, args, env)
		_ = outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadBytes('\n')
	if err != nil { // the command ended without a banner
		cancel()
		return nil, <-done, stderr.String(), nil
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	var b emulatorBanner
	if err := json.Unmarshal(line, &b); err != nil {
		cancel()
		t.Fatalf("banner %q: %v", line, err)
	}
	stop = func() int { cancel(); return <-done }
	t.Cleanup(func() { cancel() })
	return &b, 0, "", stop
}

// `tagcast emulator --help`: "Quota and fault flags override the file for
// every app." An app of the --config file with its own faults keeps them
// when a fault flag is given: --error-500 0 (meant to switch the file's
// faults off) leaves app k1 answering every push 500/1000, because the flags
// set only the global faults, which an app's own faults replace.
func TestEmulatorFaultFlagsOverrideAnAppsOwnFaults(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "emulator.yaml")
	writeTestFile(t, path, "apps:\n  - {app_key: k1, app_secret: s1, faults: {error_500: 1}}\n")
	banner, code, stderr, stop := startEmulatorCmd(t, "emulator", "--config", path, "--addr", "127.0.0.1:0", "--output", "json", "--error-500", "0")
	if banner == nil {
		t.Fatalf("the emulator did not start: exit %d, stderr %s", code, stderr)
	}
	var app emulator.AppState
	getJSON(t, banner.Control+"apps/k1", &app)
	if app.Faults.Error500 != 0 {
		t.Errorf("--error-500 0 given, but the faults in force for k1 are error_500=%v (the file's own faults for the app): "+
			"the fault flag did not override the file for this app", app.Faults.Error500)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestEmulatorQuotaFlagsRefuseZero: --hourly 0 and --daily 0 were taken,
// and 0 then read as "not set": the emulator served the defaults (2 an
// hour, 3 a day), silently, while -1 was refused. Both are refused now,
// naming the flag.
func TestEmulatorQuotaFlagsRefuseZero(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"--hourly", "--daily"} {
		// A refused flag ends the command before it serves; one taken
		// would serve until the test's deadline, so the context bounds it.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var stdout, stderr strings.Builder
		code := runIn(ctx, []string{"emulator", "--app", "k1:s1", "--addr", "127.0.0.1:0", flag, "0"},
			environment{stdin: strings.NewReader(""), stdout: &lockedWriter{w: &stdout}, stderr: &lockedWriter{w: &stderr},
				lookupEnv: func(string) (string, bool) { return "", false }})
		cancel()
		if code != 2 || !strings.Contains(stderr.String(), flag+": must be positive") {
			t.Errorf("emulator %s 0: exit %d, stderr %q; want exit 2 naming %s and the rule", flag, code, stderr.String(), flag)
		}
	}
}

// TestEmulatorLockedAndRestrictedFlags: --locked and --restricted make an
// App Key answer 401/1006 and 401/1007 (the control API's locked and
// restricted), and the banner says so.
func TestEmulatorLockedAndRestrictedFlags(t *testing.T) {
	t.Parallel()
	banner, code, stderr, stop := startEmulatorCmd(t, "emulator", "--app", "k1:s1", "--app", "k2:s2", "--app", "k3:s3",
		"--locked", "k1", "--restricted", "k2", "--addr", "127.0.0.1:0", "--output", "json")
	if banner == nil {
		t.Fatalf("the emulator did not start: exit %d, stderr %s", code, stderr)
	}
	defer stop()
	for _, want := range []struct {
		key                string
		locked, restricted bool
	}{{"k1", true, false}, {"k2", false, true}, {"k3", false, false}} {
		var app emulator.AppState
		getJSON(t, banner.Control+"apps/"+want.key, &app)
		if app.Locked != want.locked || app.Restricted != want.restricted {
			t.Errorf("app %s: locked %v restricted %v, want %v %v", want.key, app.Locked, app.Restricted, want.locked, want.restricted)
		}
	}
	if !banner.Apps[0].Locked || !banner.Apps[1].Restricted || banner.Apps[2].Locked || banner.Apps[2].Restricted {
		t.Errorf("banner apps %+v: want k1 locked, k2 restricted, k3 neither", banner.Apps)
	}
}
