package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Small gaps an operator walkthrough of the README found, each pinned here.

// TestMigrateStatusOnAMissingSQLiteFile: `migrate status` (or down) on a
// mistyped SQLite path created an empty database and its lock file, and
// listed every migration as not applied, exit 0: a typo read as "nothing
// applied". Only `migrate up` creates the file now.
func TestMigrateStatusOnAMissingSQLiteFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "typo.db")
	for _, sub := range []string{"status", "down"} {
		r := runTagcast(t, cliEnv{}, "migrate", sub, "--database", "sqlite://"+file)
		if r.code != 1 || !strings.Contains(r.stderr, "no SQLite database at "+file) {
			t.Errorf("migrate %s on a missing file: %s; want exit 1 saying there is no database", sub, r)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left behind: %v; want none", entries)
	}
	if r := runTagcast(t, cliEnv{}, "migrate", "up", "--database", "sqlite://"+file+"?_busy_timeout=5000"); r.code != 0 {
		t.Errorf("migrate up on a new file: %s; want it created and migrated", r)
	}
	if r := runTagcast(t, cliEnv{}, "migrate", "status", "--database", "sqlite://"+file); r.code != 0 || strings.Contains(r.stdout, "false") {
		t.Errorf("migrate status after up: %s", r)
	}
}

// TestVersionJSON: `version -o json` printed the text line.
func TestVersionJSON(t *testing.T) {
	t.Parallel()
	r := runTagcast(t, cliEnv{}, "version", "-o", "json")
	var v struct{ Version, Go string }
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 || v.Version == "" || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("version -o json: %+v, %v: %s", v, err, r)
	}
}

// TestShowBeforeZero: `campaign show ID --before 0` was taken as no
// cursor (the newest page, exit 0), where --runs 0 is refused.
func TestShowBeforeZero(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	if r := a.tagcast(t, "campaign", "show", "1", "--before", "0"); r.code != 2 || !strings.Contains(r.stderr, "--before: must be a run id") {
		t.Errorf("show --before 0: %s; want a usage error", r)
	}
}

// TestConfigProblemFromTheEnvironmentNamesIt: a value set by a TAGCAST_*
// variable that breaks a rule was reported as the file's ("config
// tagcast.yaml: log.level: must be ... got \"loud\""), sending the operator
// to look for "loud" in a file that does not hold it. The problem names
// the variable now, as one that does not parse already did.
func TestConfigProblemFromTheEnvironmentNamesIt(t *testing.T) {
	t.Parallel()
	cfg := writeFile(t, "tagcast.yaml", "log:\n  level: info\n")
	r := runTagcast(t, cliEnv{vars: map[string]string{"TAGCAST_LOG_LEVEL": "loud"}}, "--config", cfg, "config", "check")
	if r.code != 1 || !strings.Contains(r.stderr, `log.level: from TAGCAST_LOG_LEVEL: must be trace, debug, info, warn or error, got "loud"`) {
		t.Errorf("config check with TAGCAST_LOG_LEVEL=loud: %s; want the problem to name the variable", r)
	}
	cfg = writeFile(t, "tagcast.yaml", "log:\n  level: loud\n")
	if r := runTagcast(t, cliEnv{}, "--config", cfg, "config", "check"); r.code != 1 || strings.Contains(r.stderr, "from ") {
		t.Errorf("config check with level loud in the file: %s; want the file's problem, no variable named", r)
	}
}

// TestResumeExplainsAMissedNextRun: `campaign resume` after a pause that
// spanned the next run printed that instant, already past, as the "next
// run", with nothing to say it would not fire then.
func TestResumeExplainsAMissedNextRun(t *testing.T) {
	t.Parallel()
	a := startAdmin(t)
	for _, tc := range []struct{ missed, want string }{
		{"skip", "missed: skip drops it, and the campaign fires at its next future time)"},
		{"once", "missed: once fires the latest missed occurrence once, late, unless the next one is due within missed_after; " +
			"its run ends expired if it is older than deliver_within)"},
	} {
		file := writeFile(t, "hourly.yaml", strings.Replace(campaignFile("hourly-"+tc.missed),
			`schedule: {at: "`+adminT0.Add(time.Hour).Format(time.RFC3339)+`"}`, `schedule: {cron: "0 * * * *", missed: `+tc.missed+`}`, 1))
		r := a.tagcast(t, "campaign", "create", file)
		m := regexp.MustCompile(`^campaign (\d+) created`).FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil {
			t.Fatalf("create: %s", r)
		}
		if r := a.tagcast(t, "campaign", "pause", m[1]); r.code != 0 || strings.Contains(r.stdout, "missed") {
			t.Fatalf("pause: %s", r)
		}
		a.clock.mu.Lock()
		at := a.clock.t
		a.clock.t = at.Add(3 * time.Hour)
		a.clock.mu.Unlock()
		if r := a.tagcast(t, "campaign", "resume", m[1]); r.code != 0 || !strings.Contains(r.stdout, tc.want) {
			t.Errorf("resume after a pause past the next run (missed: %s): %s; want %q", tc.missed, r, tc.want)
		}
	}
}
