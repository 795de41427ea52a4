package main

import (
	"strings"
	"testing"
)

// TestHelpDoesNotPromiseAConfigTheCommandIgnores: `tagcast emulator
// --help` says in its text that the emulator "reads no tagcast.yaml by
// default" (so that it never serves a team config's real apps), and the
// same page lists the global flag as "--config string   config file
// (default tagcast.yaml when present)". `tagcast demo --help` shows the
// same flag text although the demo never reads a config (given --config it
// notes "--config ... is not read"). The help contradicts itself on the
// one point that keeps real apps out of the emulator.
func TestHelpDoesNotPromiseAConfigTheCommandIgnores(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"emulator", "demo"} {
		r := runTagcast(t, cliEnv{}, cmd, "--help")
		if r.code != 0 {
			t.Fatalf("%s --help: %s", cmd, r)
		}
		for line := range strings.Lines(r.stdout) {
			if strings.Contains(line, "--config") && strings.Contains(line, "default tagcast.yaml when present") {
				t.Errorf("tagcast %s --help: %q; the %s reads no tagcast.yaml by default", cmd, strings.TrimSpace(line), cmd)
			}
		}
	}
}
