package main

import (
	"strings"
	"testing"
)

// DESIGN's exit codes are 0 ok, 1 operation failed or input invalid, 2
// usage error. A malformed flag ("---status", "--=x") is a usage error.
// Was: pflag's "bad flag syntax: ...", which isUsageError does not list,
// exited 1, as if an operation had failed (found by a review).
func TestBadFlagSyntaxIsAUsageError(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"campaign", "list", "---status", "active"},
		{"push", "validate", "--=x", "body.json"},
	} {
		r := runTagcast(t, cliEnv{}, args...)
		if r.code != 2 {
			t.Errorf("tagcast %s: exit %d, want 2 (usage error)\n%s", strings.Join(args, " "), r.code, r)
		}
	}
}

// Every command group refuses to run without a subcommand
// (requireSubcommand: "a usage error, never a silent help page with exit
// 0"), the root too. Was: `tagcast` (or `tagcast -o json`, a script's
// mistyped call) printed the human help page on stdout and exited 0
// (found by a review).
func TestBareTagcastIsAUsageError(t *testing.T) {
	t.Parallel()
	group := runTagcast(t, cliEnv{}, "-o", "json", "campaign")
	if group.code != 2 {
		t.Fatalf("precondition: tagcast -o json campaign: %s, want exit 2", group)
	}
	r := runTagcast(t, cliEnv{}, "-o", "json")
	if r.code != 2 {
		t.Errorf("tagcast -o json (no command): exit %d, want 2 like `tagcast campaign`\n%s", r.code, r)
	}
	if strings.HasPrefix(strings.TrimSpace(r.stdout), "Scheduled push campaigns") {
		t.Errorf("tagcast -o json (no command): the human help page on stdout, not a JSON error:\n%s", r)
	}
}

// An emulator flag's bad value is a usage error naming the flag. Was: the
// emulator's config check named the key the flag sets (faults.error_500
// for --error-500 2, apps[0].quota.timezone for --timezone without any
// config file) and exited 1 (found by a review).
func TestEmulatorFlagErrorsNameTheFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range [][]string{
		{"--error-500", "2"},
		{"--timezone", "Nowhere/Nothing"},
		{"--max-nonce-len", "5"},
		{"--stall-for", "-1s"},
		{"--hour-window", "sliding"},
	} {
		args := append([]string{"emulator", "--addr", "127.0.0.1:0", "--app", "k1:s1"}, tc...)
		r := runTagcast(t, cliEnv{}, args...)
		if r.code != 2 {
			t.Fatalf("tagcast %s: %s; want exit 2 (a usage error)", strings.Join(args, " "), r)
		}
		if !strings.Contains(r.stderr, tc[0]) {
			t.Errorf("emulator %s %s: the error does not name the flag %s: %q", tc[0], tc[1], tc[0], strings.TrimSpace(r.stderr))
		}
	}
}
