package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestMakeHelpListsTheDocumentedTargets: README says "`make help`
// lists the other targets: `build`, `test-race`, `lint`, `bench`, `e2e`,
// `demo`". The help rule's pattern must admit digits in target names, or e2e
// (and e2e-short) would not show.
func TestMakeHelpListsTheDocumentedTargets(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed: %v", err)
	}
	cmd := exec.Command("make", "--no-print-directory", "help")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	for _, target := range []string{"build", "test-race", "lint", "bench", "e2e", "demo"} {
		found := false
		for line := range strings.SplitSeq(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == target {
				found = true
			}
		}
		if !found {
			t.Errorf("make help does not list %q:\n%s", target, out)
		}
	}
}
