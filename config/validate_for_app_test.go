package config

import (
	"strings"
	"testing"
)

// TestValidateForApp: a command working as one app (tags, push send) needs
// that app's secret only. Another app's unset variable is no problem; its
// own unset variable is refused naming it; everything else is checked as
// Validate checks it.
func TestValidateForApp(t *testing.T) {
	t.Parallel()
	const twoApps = `apps:
  - {name: main, app_key: k1, app_secret_env: MAIN_SECRET, data_center: beijing}
  - {name: other, app_key: k2, app_secret_env: OTHER_SECRET, data_center: beijing}
`
	cfg, err := load(t, twoApps, env{"MAIN_SECRET": "s1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "OTHER_SECRET") {
		t.Fatalf("Validate: %v; want OTHER_SECRET's absence refused", err)
	}
	if err := cfg.ValidateForApp("main"); err != nil {
		t.Errorf("ValidateForApp(main) with only MAIN_SECRET set: %v", err)
	}
	err = cfg.ValidateForApp("other")
	if err == nil || !strings.Contains(err.Error(), "apps[1].app_secret_env") || !strings.Contains(err.Error(), "OTHER_SECRET") ||
		strings.Contains(err.Error(), "s1") {
		t.Errorf("ValidateForApp(other) with OTHER_SECRET unset: %v; want it refused naming the variable", err)
	}
	if err := cfg.ValidateForApp(""); err != nil {
		t.Errorf("ValidateForApp(\"\"): %v; no app's secret is needed", err)
	}
	bad, err := load(t, twoApps+"log: {level: loud}\n", env{"MAIN_SECRET": "s1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.ValidateForApp("main"); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("ValidateForApp(main) with a bad log.level: %v; want every other rule checked", err)
	}
}
