package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/tagcast/tagcast/config"
)

// cliResult is what one in-process run of tagcast produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cliEnv is the environment of an in-process run: variables, stdin and the
// directory whose tagcast.yaml is the default config.
type cliEnv struct {
	vars  map[string]string
	stdin string
	dir   string
}

// runTagcast runs the command line in-process with captured streams and a
// fake environment (the process environment is never read).
func runTagcast(t *testing.T, e cliEnv, args ...string) cliResult {
	t.Helper()
	if e.dir == "" {
		e.dir = t.TempDir()
	}
	var stdout, stderr bytes.Buffer
	env := environment{
		stdin:  strings.NewReader(e.stdin),
		stdout: &stdout,
		stderr: &stderr,
		lookupEnv: func(name string) (string, bool) {
			v, ok := e.vars[name]
			return v, ok
		},
		environ: func() []string {
			var kv []string
			for k, v := range e.vars {
				kv = append(kv, k+"="+v)
			}
			return kv
		},
		defaultConfig: filepath.Join(e.dir, "tagcast.yaml"),
	}
	code := runIn(context.Background(), args, env)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// writeFile writes text to name in a new temporary directory and returns the
// path.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const secretValue = "TOPSECRET-4711"

// assertNoSecret fails when any output holds a secret value.
func assertNoSecret(t *testing.T, r cliResult, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, secretValue) {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("output reveals the secret %q:\n%s", s, r)
		}
	}
}

const validConfig = `apps:
  - name: main
    app_key: key-main
    app_secret_env: MAIN_SECRET
    data_center: beijing
redis: {url: "redis://:REDISPASS@cache:6379/0"}
`

func TestConfigCheckValid(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "tagcast.yaml", validConfig)
	vars := map[string]string{"MAIN_SECRET": secretValue, "TAGCAST_ADMIN_TOKENS": "ADMINTOKEN1", "TAGCAST_LOG_LEVEL": "debug"}

	r := runTagcast(t, cliEnv{vars: vars}, "config", "check", file)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("config check: %s", r)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(r.stdout, "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, want := range []string{
		file + ": valid, 1 app",
		"KEY VALUE SOURCE",
		`apps[0].app_key "key-main" file`,
		"apps[0].app_secret [redacted] resolved from env MAIN_SECRET",
		`redis.url "redis://:[redacted]@cache:6379/0" file`,
		`log.level "debug" env TAGCAST_LOG_LEVEL`,
		`database.url "sqlite://tagcast.db" default`,
		"admin.tokens [redacted] (1) resolved from env TAGCAST_ADMIN_TOKENS",
	} {
		if !lines[want] {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	assertNoSecret(t, r, "REDISPASS", "ADMINTOKEN1")

	r = runTagcast(t, cliEnv{vars: vars}, "config", "check", "--output", "json", file)
	if r.code != 0 {
		t.Fatalf("config check --output json: %s", r)
	}
	var report struct {
		File     string           `json:"file"`
		Valid    bool             `json:"valid"`
		Problems []config.Problem `json:"problems"`
		Config   map[string]any   `json:"config"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if !report.Valid || len(report.Problems) != 0 || report.File != file {
		t.Errorf("report = %+v", report)
	}
	app := report.Config["apps"].([]any)[0].(map[string]any)
	if app["app_secret"] != "[redacted]" || app["timeout"] != "10s" {
		t.Errorf("config.apps[0] = %v", app)
	}
	assertNoSecret(t, r, "REDISPASS", "ADMINTOKEN1")
}

func TestConfigCheckListsEveryProblem(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "bad.yaml", `apps:
  - name: main
    app_key: k
    app_secret_env: MAIN_SECRET
    data_center: moon
    quota: {hour_window: hourly}
  - name: main
    app_key: k2
    app_secret_file: /nonexistent/secret
    hosts: [ftp://x]
worker: {concurrency: 0}
`)
	r := runTagcast(t, cliEnv{vars: map[string]string{"MAIN_SECRET": secretValue}}, "config", "check", file)
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("want exit 1 and nothing on stdout: %s", r)
	}
	want := "tagcast: config " + file + ": 6 problems:\n" +
		`  apps[0].data_center: must be one of beijing, singapore, singapore-b, north-america, saudi-arabia, got "moon"` + "\n" +
		`  apps[0].quota.hour_window: must be rolling or clock, got "hourly"` + "\n" +
		"  apps[1].app_secret_file: cannot read the secret file: open /nonexistent/secret: no such file or directory\n" +
		`  apps[1].hosts[0]: must be an absolute http:// or https:// URL, got scheme "ftp"` + "\n" +
		`  apps[1].name: duplicate app name "main" (also apps[0])` + "\n" +
		"  worker.concurrency: must be at least 1, got 0\n"
	if diff := cmp.Diff(want, r.stderr); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	assertNoSecret(t, r)

	r = runTagcast(t, cliEnv{vars: map[string]string{"MAIN_SECRET": secretValue}}, "config", "check", "-o", "json", file)
	var report struct {
		Valid    bool             `json:"valid"`
		Problems []config.Problem `json:"problems"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 1 {
		t.Fatalf("json report: %v %s", err, r)
	}
	if report.Valid || len(report.Problems) != 6 || report.Problems[1].Path != "apps[0].quota.hour_window" {
		t.Errorf("report = %+v", report)
	}
	assertNoSecret(t, r)
}

func TestConfigCheckUnknownKeysAndBadValues(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "typo.yaml", "databse: {url: sqlite://x.db}\nworker: {concurrency: many}\n")
	r := runTagcast(t, cliEnv{}, "config", "check", file)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	for _, want := range []string{
		"  databse: unknown key (line 1); known keys here: apps, redis, database, admin, worker, scheduler, metrics, log\n",
		"  worker.concurrency: must be an integer, got \"many\" (line 2)\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// A file that is not YAML still gets its JSON report on stdout (valid
// false, the parser's error), not just a line on stderr.
func TestConfigCheckJSONReportsAFileThatIsNotYAML(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "broken.yaml", "apps: [\n  - x: {\n")
	r := runTagcast(t, cliEnv{}, "config", "check", "-o", "json", file)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	var report struct {
		Valid    bool `json:"valid"`
		Problems []struct{ Path, Rule string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, r)
	}
	if report.Valid || len(report.Problems) != 1 || !strings.Contains(report.Problems[0].Rule, "yaml: line") {
		t.Errorf("report = %+v, want invalid with the YAML error", report)
	}
}

func TestConfigCheckFindsTheFile(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"MAIN_SECRET": secretValue}

	// No file anywhere: defaults and environment only, valid.
	r := runTagcast(t, cliEnv{vars: vars}, "config", "check")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "(no file: defaults and environment): valid, 0 apps") {
		t.Errorf("without a file: %s", r)
	}

	// tagcast.yaml in the working directory is the default.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tagcast.yaml"), []byte(validConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runTagcast(t, cliEnv{vars: vars, dir: dir}, "config", "check")
	if r.code != 0 || !strings.Contains(r.stdout, "tagcast.yaml: valid, 1 app") {
		t.Errorf("default file: %s", r)
	}

	// --config wins over the default file; FILE wins over --config.
	other := writeFile(t, "other.yaml", "apps: []\nlog: {level: warn}\n")
	r = runTagcast(t, cliEnv{vars: vars, dir: dir}, "--config", other, "config", "check")
	if r.code != 0 || !strings.Contains(r.stdout, other+": valid, 0 apps") {
		t.Errorf("--config: %s", r)
	}
	r = runTagcast(t, cliEnv{vars: vars, dir: dir}, "--config", other, "config", "check", filepath.Join(dir, "tagcast.yaml"))
	if r.code != 0 || !strings.Contains(r.stdout, "valid, 1 app") {
		t.Errorf("FILE over --config: %s", r)
	}

	// A named file that does not exist fails.
	r = runTagcast(t, cliEnv{vars: vars}, "config", "check", filepath.Join(dir, "missing.yaml"))
	if r.code != 1 || !strings.Contains(r.stderr, "missing.yaml: open ") {
		t.Errorf("missing file: %s", r)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"config", "check", "a.yaml", "b.yaml"}, "accepts at most 1 arg(s), received 2"},
		{[]string{"--output", "yaml", "config", "check"}, `--output: must be table or json, got "yaml"`},
		{[]string{"config"}, "tagcast config needs a subcommand"},
		{[]string{"config", "lint"}, `unknown command "lint" for "tagcast config"`},
		{[]string{"no-such-command"}, "unknown command"},
		{[]string{"push", "validate"}, "accepts 1 arg(s), received 0"},
		{[]string{"push", "validate", "--bogus", "x.json"}, "unknown flag: --bogus"},
		{[]string{"push", "send", "x.json"}, `required flag(s) "app" not set`},
		{[]string{"tags", "set", "--app", "main"}, "tags set: USER is required"},
		{[]string{"tags", "get"}, "requires at least 1 arg(s)"},
		{[]string{"tags"}, "tagcast tags needs a subcommand"},
	}
	for _, tt := range tests {
		r := runTagcast(t, cliEnv{}, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("tagcast %s: want exit 2 and %q on stderr, got %s", strings.Join(tt.args, " "), tt.want, r)
		}
	}
}

func TestLoadConfigFlagsWinOverEnvAndFile(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "tagcast.yaml", validConfig+"worker: {concurrency: 4}\nadmin: {addr: \"127.0.0.1:7000\"}\n")
	g := &globals{configPath: file, env: environment{lookupEnv: func(k string) (string, bool) {
		v, ok := map[string]string{"MAIN_SECRET": "x", "TAGCAST_WORKER_CONCURRENCY": "8", "TAGCAST_ADMIN_ADDR": "127.0.0.1:7001"}[k]
		return v, ok
	}}}
	newCmd := func(args ...string) *cobra.Command {
		cmd := &cobra.Command{Use: "serve"}
		cmd.Flags().Int("concurrency", 0, "")
		cmd.Flags().String("addr", "", "")
		cmd.Flags().StringSlice("hosts", nil, "")
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	keys := map[string]string{"concurrency": "worker.concurrency", "addr": "admin.addr", "hosts": "apps[0].hosts"}

	cfg, err := g.loadConfig(bindFlags(newCmd("--concurrency", "16", "--hosts", "http://a:1,http://b:2"), keys))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Worker.Concurrency != 16 || cfg.Source("worker.concurrency") != "flag --concurrency" {
		t.Errorf("worker.concurrency = %d from %s, want 16 from the flag", cfg.Worker.Concurrency, cfg.Source("worker.concurrency"))
	}
	if cfg.Admin.Addr != "127.0.0.1:7001" {
		t.Errorf("admin.addr = %q, want the environment's (flag not set)", cfg.Admin.Addr)
	}
	if diff := cmp.Diff([]string{"http://a:1", "http://b:2"}, cfg.Apps[0].Hosts); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}

	// A flag value that breaks a rule is reported like the file's problems.
	_, err = g.loadConfig(bindFlags(newCmd("--concurrency", "0"), keys))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "worker.concurrency: from --concurrency: must be at least 1, got 0") {
		t.Errorf("loadConfig with --concurrency 0 = %v", err)
	}
}

// A valid configuration can still leave `serve` and `api` unable to start
// (no app, no admin token), and a misspelt TAGCAST_ variable is ignored by
// Load: config check says so in notes, without naming a value (the
// variable's value may be a secret), and the variables it does know (keys,
// apps by index, secrets' and tokens' variables, the simulated clock) are
// never reported.
func TestConfigCheckNotesWhatAValidConfigLeavesOut(t *testing.T) {
	t.Parallel()
	r := runTagcast(t, cliEnv{vars: map[string]string{"TAGCAST_REDIS_ULR": "redis://:REDISPASS@cache:6379"}}, "config", "check")
	if r.code != 0 {
		t.Fatalf("config check of the defaults: %s", r)
	}
	for _, want := range []string{
		"note: no apps: `serve` and `api` refuse to start without one",
		"note: TAGCAST_ADMIN_TOKENS holds no admin token",
		"note: TAGCAST_REDIS_ULR names no configuration key: it is ignored",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	assertNoSecret(t, r, "REDISPASS")

	file := writeFile(t, "tagcast.yaml", validConfig)
	vars := map[string]string{
		"MAIN_SECRET": secretValue, "TAGCAST_ADMIN_TOKENS": "ADMINTOKEN1", "TAGCAST_ADMIN_TOKEN": "ADMINTOKEN1",
		"TAGCAST_LOG_LEVEL": "debug", "TAGCAST_APPS_0_QUOTA_DAILY": "5", "TAGCAST_SIMULATED_CLOCK": "",
		"TAGCAST_APPS_0_QUOTA_DAYLY": "5",
	}
	r = runTagcast(t, cliEnv{vars: vars}, "config", "check", "-o", "json", file)
	var report struct {
		Valid bool     `json:"valid"`
		Notes []string `json:"notes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || r.code != 0 || !report.Valid {
		t.Fatalf("config check -o json (%v): %s", err, r)
	}
	if want := []string{"TAGCAST_APPS_0_QUOTA_DAYLY names no configuration key: it is ignored"}; !slices.Equal(report.Notes, want) {
		t.Errorf("notes %q, want %q", report.Notes, want)
	}
}
