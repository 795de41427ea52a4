package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tagcast/tagcast/pushapi"
)

// env is a fake environment for WithLookupEnv.
type env map[string]string

func (e env) lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

// files is a fake file system for WithReadFile.
type files map[string]string

func (f files) read(name string) ([]byte, error) {
	if s, ok := f[name]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// load loads the YAML text with a fake environment and file system.
func load(t *testing.T, yamlText string, e env, extra files) (*Config, error) {
	t.Helper()
	fsys := files{"tagcast.yaml": yamlText}
	for k, v := range extra {
		fsys[k] = v
	}
	path := "tagcast.yaml"
	if yamlText == "" {
		path = ""
	}
	return Load(path, WithLookupEnv(e.lookup), WithReadFile(fsys.read))
}

func mustLoad(t *testing.T, yamlText string, e env, extra files) *Config {
	t.Helper()
	cfg, err := load(t, yamlText, e, extra)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

var ignoreUnexported = cmpopts.IgnoreUnexported(Config{}, App{})

func TestLoadWithoutFileGivesDefaults(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, "", env{}, nil)
	want := &Config{
		Database: Database{URL: "sqlite://tagcast.db", MaxOpenConns: 40},
		Admin:    Admin{Addr: "127.0.0.1:8080", TokensEnv: "TAGCAST_ADMIN_TOKENS", Server: "http://127.0.0.1:8080", TokenEnv: "TAGCAST_ADMIN_TOKEN"},
		Worker: Worker{Concurrency: 20, ShutdownTimeout: 30 * time.Second, Lease: 2 * time.Minute,
			Backoff:    Backoff{Base: 30 * time.Second, Cap: 30 * time.Minute, MaxAttempts: 5},
			InlineWait: 10 * time.Second, SnoozeLead: 2 * time.Second, MaxSnooze: 15 * time.Minute,
			AttemptBudget: 20 * time.Second, StoreTimeout: 15 * time.Second},
		Scheduler: Scheduler{Interval: time.Second},
		Log:       Log{Level: "info", Format: "json"},
	}
	if diff := cmp.Diff(want, cfg, ignoreUnexported); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if !cfg.Redis.Embedded() {
		t.Errorf("Redis.Embedded() = false for the default empty URL")
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

func TestAppDefaults(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, "apps:\n  - name: main\n    app_key: k\n    app_secret_env: S\n    data_center: beijing\n", env{"S": "s3cr3t"}, nil)
	want := App{
		Name: "main", AppKey: "k", AppSecretEnv: "S", DataCenter: "beijing",
		Timeout: 10 * time.Second, TimestampUnit: "seconds",
		Quota:  Quota{Hourly: 2, Daily: 3, HourWindow: "rolling", DayWindow: "calendar", Timezone: "Asia/Shanghai"},
		Secret: NewSecret("s3cr3t"),
	}
	if diff := cmp.Diff(want, cfg.Apps[0], ignoreUnexported); diff != "" {
		t.Errorf("app (-want +got):\n%s", diff)
	}
	if got := cfg.Apps[0].Secret.Reveal(); got != "s3cr3t" {
		t.Errorf("Secret.Reveal() = %q, want s3cr3t", got)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestExampleFileLoadsAndValidates(t *testing.T) {
	t.Parallel()
	read := os.ReadFile
	cfg, err := Load(filepath.Join("..", "config.example.yaml"),
		WithLookupEnv(env{"TAGCAST_MAIN_SECRET": "main-secret", "TAGCAST_EMULATOR_SECRET": " emulator-secret\n"}.lookup), WithReadFile(read))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if diff := cmp.Diff([]string{"main", "emulator"}, cfg.AppNames()); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
	emu, ok := cfg.App("emulator")
	if !ok {
		t.Fatal(`App("emulator") not found`)
	}
	if emu.Secret.Reveal() != "emulator-secret" {
		t.Errorf("emulator secret not resolved from its variable (white space trimmed)")
	}
	// The example documents the defaults: apart from its apps it must equal
	// a config without a file.
	defaults := Default()
	cfg.Apps = nil
	if diff := cmp.Diff(defaults, cfg, ignoreUnexported); diff != "" {
		t.Errorf("config.example.yaml differs from the defaults (-default +example):\n%s", diff)
	}
	main := DefaultApp()
	got, _ := Load(filepath.Join("..", "config.example.yaml"), WithLookupEnv(env{}.lookup), WithReadFile(read))
	got.Apps[0].Name, got.Apps[0].AppKey, got.Apps[0].AppSecretEnv, got.Apps[0].DataCenter, got.Apps[0].Hosts = "", "", "", "", nil
	if diff := cmp.Diff(main, got.Apps[0], ignoreUnexported); diff != "" {
		t.Errorf("example app main differs from DefaultApp (-default +example):\n%s", diff)
	}
}

// An app variable past the next free index would add nothing: it is
// reported with its variable, not dropped in silence.
func TestEnvAppPastTheNextIndexIsReported(t *testing.T) {
	t.Parallel()
	e := env{
		"S1":                            "secret-1",
		"TAGCAST_APPS_2_NAME":           "second",
		"TAGCAST_APPS_2_APP_KEY":        "k2",
		"TAGCAST_APPS_2_APP_SECRET_ENV": "S1",
	}
	file := "apps:\n  - {name: first, app_key: k1, app_secret_env: S1, data_center: beijing}\n"
	_, err := Load("tagcast.yaml", WithLookupEnv(e.lookup), WithReadFile(func(string) ([]byte, error) { return []byte(file), nil }))
	if err == nil {
		t.Fatal("TAGCAST_APPS_2_* with one app in the file: no problem reported")
	}
	for _, want := range []string{"apps[2]", "TAGCAST_APPS_2_", "apps[1] is not defined"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the problem does not name %q: %v", want, err)
		}
	}
}

func TestPrecedenceFileThenEnvThenFlag(t *testing.T) {
	t.Parallel()
	const file = `
apps:
  - name: main
    app_key: file-key
    app_secret_env: MAIN_SECRET
    data_center: beijing
    quota: {daily: 5}
database: {url: "postgres://file@db/tagcast"}
admin: {addr: "127.0.0.1:7000"}
worker: {concurrency: 4}
`
	e := env{
		"MAIN_SECRET":                      "x",
		"TAGCAST_DATABASE_URL":             "postgres://env@db/tagcast",
		"TAGCAST_REDIS_URL":                "redis://127.0.0.1:7777/2",
		"TAGCAST_WORKER_CONCURRENCY":       "8",
		"TAGCAST_APPS_0_APP_KEY":           "env-key",
		"TAGCAST_APPS_0_QUOTA_HOUR_WINDOW": "clock",
		"TAGCAST_APPS_0_HOSTS":             "http://127.0.0.1:9001, http://127.0.0.1:9002",
		"TAGCAST_APPS_1_NAME":              "second",
		"TAGCAST_APPS_1_APP_KEY":           "k2",
		"TAGCAST_APPS_1_APP_SECRET_FILE":   "/secret2",
		"TAGCAST_APPS_1_DATA_CENTER":       "singapore",
	}
	cfg := mustLoad(t, file, e, files{"/secret2": "y"})
	if err := cfg.Set("admin.addr", "127.0.0.1:9999"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := cfg.Set("worker.concurrency", "16"); err != nil {
		t.Fatalf("Set: %v", err)
	}

	checks := []struct {
		path, got, want, source string
	}{
		{"apps[0].app_key", cfg.Apps[0].AppKey, "env-key", "env TAGCAST_APPS_0_APP_KEY"},
		{"apps[0].name", cfg.Apps[0].Name, "main", "file"},
		{"apps[0].quota.hour_window", cfg.Apps[0].Quota.HourWindow, "clock", "env TAGCAST_APPS_0_QUOTA_HOUR_WINDOW"},
		{"apps[0].quota.day_window", cfg.Apps[0].Quota.DayWindow, "calendar", "default"},
		{"database.url", cfg.Database.URL, "postgres://env@db/tagcast", "env TAGCAST_DATABASE_URL"},
		{"redis.url", cfg.Redis.URL, "redis://127.0.0.1:7777/2", "env TAGCAST_REDIS_URL"},
		{"admin.addr", cfg.Admin.Addr, "127.0.0.1:9999", "flag"},
		{"admin.server", cfg.Admin.Server, "http://127.0.0.1:8080", "default"},
		{"apps[1].name", cfg.Apps[1].Name, "second", "env TAGCAST_APPS_1_NAME"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.path, c.got, c.want)
		}
		if s := cfg.Source(c.path); s != c.source {
			t.Errorf("Source(%s) = %q, want %q", c.path, s, c.source)
		}
	}
	if cfg.Apps[0].Quota.Daily != 5 || cfg.Apps[0].Quota.Hourly != 2 {
		t.Errorf("quota = %+v, want daily 5 from the file and hourly 2 by default", cfg.Apps[0].Quota)
	}
	if cfg.Worker.Concurrency != 16 {
		t.Errorf("worker.concurrency = %d, want 16 (flag over env 8 over file 4)", cfg.Worker.Concurrency)
	}
	if diff := cmp.Diff([]string{"http://127.0.0.1:9001", "http://127.0.0.1:9002"}, cfg.Apps[0].Hosts); diff != "" {
		t.Errorf("hosts from env (-want +got):\n%s", diff)
	}
	if len(cfg.Apps) != 2 {
		t.Fatalf("apps = %v, want main and second (index 3 skips index 2, so it is not an app)", cfg.AppNames())
	}
	if cfg.Apps[1].Quota.Daily != 3 || cfg.Apps[1].Timeout != 10*time.Second {
		t.Errorf("an app from the environment lacks the defaults: %+v", cfg.Apps[1])
	}
	if cfg.Apps[1].Secret.Reveal() != "y" {
		t.Errorf("apps[1] secret not resolved from its file")
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if got := cfg.EnvVar("apps[0].quota.hour_window"); got != "TAGCAST_APPS_0_QUOTA_HOUR_WINDOW" {
		t.Errorf("EnvVar = %q", got)
	}
}

func TestEnvEmptyValueSetsEmpty(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, "redis: {url: redis://h:1}\n", env{"TAGCAST_REDIS_URL": ""}, nil)
	if cfg.Redis.URL != "" {
		t.Errorf("redis.url = %q, want empty (set to empty by the environment)", cfg.Redis.URL)
	}
}

func TestSetErrors(t *testing.T) {
	t.Parallel()
	cfg := Default()
	if err := cfg.Set("admin.adr", "x"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Set(unknown) = %v, want ErrUnknownKey", err)
	}
	err := cfg.Set("scheduler.interval", "5")
	if err == nil || !strings.Contains(err.Error(), `scheduler.interval: must be a duration with a unit such as 10s or 1m30s, got "5"`) {
		t.Errorf("Set(bad duration) = %v", err)
	}
}

func TestSetSecretSourceResolvesAgain(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, "apps:\n  - {name: a, app_key: k, app_secret_env: ONE, data_center: beijing}\n", env{"ONE": "1", "TWO": "2"}, nil)
	if err := cfg.Set("apps[0].app_secret_env", "TWO"); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Apps[0].Secret.Reveal(); got != "2" {
		t.Errorf("secret after Set = %q, want the value of TWO", got)
	}
}

func TestLoadReportsEveryKeyProblem(t *testing.T) {
	t.Parallel()
	const file = `apps:
  - name: main
    app_kee: x
    timeout: 10
    quota: {hourly: two, dayly: 3}
    hosts: http://x
redis: redis://h
worker: {concurrency: 3, shutdown_timeout: soon}
database: {url: sqlite://x.db}
database: {url: sqlite://y.db}
extra: 1
`
	_, err := load(t, file, env{"TAGCAST_SCHEDULER_INTERVAL": "fast"}, nil)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load error = %v, want *ValidationError", err)
	}
	want := []Problem{
		{"apps[0].app_kee", "unknown key (line 3); known keys here: name, app_key, app_secret_env, app_secret_file, data_center, hosts, timeout, timestamp_unit, quota"},
		{"apps[0].timeout", `must be a duration with a unit such as 10s or 1m30s, got "10" (line 4)`},
		{"apps[0].quota.hourly", `must be an integer, got "two" (line 5)`},
		{"apps[0].quota.dayly", "unknown key (line 5); known keys here: hourly, daily, hour_window, day_window, timezone"},
		{"apps[0].hosts", "must be a list, got a single value (line 6)"},
		{"redis", "must be a mapping, got a single value (line 7)"},
		{"worker.shutdown_timeout", `must be a duration with a unit such as 10s or 1m30s, got "soon" (line 8)`},
		{"database", "duplicate key (line 10)"},
		{"extra", "unknown key (line 11); known keys here: apps, redis, database, admin, worker, scheduler, metrics, log"},
		{"scheduler.interval", `from TAGCAST_SCHEDULER_INTERVAL: must be a duration with a unit such as 10s or 1m30s, got "fast"`},
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if ve.Source != "tagcast.yaml" || !strings.HasPrefix(err.Error(), "config tagcast.yaml: 10 problems: apps[0].app_kee: unknown key") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	_, err := Load("/does/not/exist.yaml", WithReadFile(files{}.read))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "/does/not/exist.yaml") {
		t.Errorf("missing file: %v", err)
	}
	_, err = load(t, "apps: [\n", env{}, nil)
	if err == nil || !strings.Contains(err.Error(), "config tagcast.yaml: yaml:") {
		t.Errorf("syntax error: %v", err)
	}
}

// validApp is an app that passes every rule.
func validApp(name string) App {
	a := DefaultApp()
	a.Name, a.AppKey, a.DataCenter, a.Secret = name, "key-"+name, "beijing", NewSecret("s")
	return a
}

func TestValidateRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(c *Config)
		want   []Problem
	}{
		{"valid", func(c *Config) {}, nil},
		{"no apps is valid", func(c *Config) { c.Apps = nil }, nil},
		{"name required", func(c *Config) { c.Apps[1].Name = "" },
			[]Problem{{"apps[1].name", "required"}}},
		{"name charset", func(c *Config) { c.Apps[1].Name = "a b" },
			[]Problem{{"apps[1].name", `must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, got "a b"`}}},
		{"unique names", func(c *Config) { c.Apps[1].Name = "main" },
			[]Problem{{"apps[1].name", `duplicate app name "main" (also apps[0])`}}},
		{"unique app keys", func(c *Config) { c.Apps[1].AppKey = c.Apps[0].AppKey },
			[]Problem{{"apps[1].app_key", "same App Key as apps[0]: the quota is per App Key, so configure it once"}}},
		{"app_key required", func(c *Config) { c.Apps[0].AppKey = "" },
			[]Problem{{"apps[0].app_key", "required"}}},
		{"app_key no spaces", func(c *Config) { c.Apps[0].AppKey = "a b" },
			[]Problem{{"apps[0].app_key", "must not contain spaces or control characters"}}},
		{"secret source required", func(c *Config) { c.Apps[0].Secret = Secret{} },
			[]Problem{{"apps[0].app_secret_env", "required: set app_secret_env (a variable holding the App Secret) or app_secret_file"}}},
		{"both secret sources", func(c *Config) { c.Apps[0].AppSecretEnv, c.Apps[0].AppSecretFile = "A", "/f" },
			[]Problem{{"apps[0].app_secret_env", "set exactly one of app_secret_env and app_secret_file, not both"}}},
		{"secret env name", func(c *Config) { c.Apps[0].AppSecretEnv = "MY-SECRET" },
			[]Problem{{"apps[0].app_secret_env", `must be an environment variable name (letters, digits, '_'); got 9 characters, not shown (is it the secret itself?)`}}},
		{"unknown data center", func(c *Config) { c.Apps[0].DataCenter = "mars" },
			[]Problem{{"apps[0].data_center", `must be one of beijing, singapore, singapore-b, north-america, saudi-arabia, got "mars"`}}},
		{"data center or hosts", func(c *Config) { c.Apps[0].DataCenter = "" },
			[]Problem{{"apps[0].data_center", "required unless hosts is set: one of beijing, singapore, singapore-b, north-america, saudi-arabia"}}},
		{"hosts instead of data center", func(c *Config) {
			c.Apps[0].DataCenter, c.Apps[0].Hosts = "", []string{"http://127.0.0.1:9000", "https://backup.example.com/prefix"}
		}, nil},
		{"hosts must be absolute http(s)", func(c *Config) {
			c.Apps[0].Hosts = []string{"127.0.0.1:9000", "ftp://x", "http://", "https://u:p@h", "http://h?x=1", "http://h", "http://h", "http://h:port"}
		}, []Problem{
			{"apps[0].hosts[0]", "must be an absolute http:// or https:// URL"},
			{"apps[0].hosts[1]", `must be an absolute http:// or https:// URL, got scheme "ftp"`},
			{"apps[0].hosts[2]", "must name a host"},
			{"apps[0].hosts[3]", "must not contain credentials"},
			{"apps[0].hosts[4]", "must not have a query or fragment"},
			{"apps[0].hosts[6]", "duplicate of hosts[5]"},
			{"apps[0].hosts[7]", "is not a valid URL"},
		}},
		{"timeout positive", func(c *Config) { c.Apps[0].Timeout = 0 },
			[]Problem{{"apps[0].timeout", "must be a positive duration, got 0s"}}},
		{"quotas positive", func(c *Config) { c.Apps[0].Quota.Hourly, c.Apps[0].Quota.Daily = 0, -1 },
			[]Problem{{"apps[0].quota.hourly", "must be at least 1, got 0"}, {"apps[0].quota.daily", "must be at least 1, got -1"}}},
		{"hour window", func(c *Config) { c.Apps[1].Quota.HourWindow = "hourly" },
			[]Problem{{"apps[1].quota.hour_window", `must be rolling or clock, got "hourly"`}}},
		{"day window", func(c *Config) { c.Apps[1].Quota.DayWindow = "daily" },
			[]Problem{{"apps[1].quota.day_window", `must be calendar or rolling, got "daily"`}}},
		{"clock and rolling windows", func(c *Config) { c.Apps[1].Quota.HourWindow, c.Apps[1].Quota.DayWindow = "clock", "rolling" }, nil},
		{"timezone unknown", func(c *Config) { c.Apps[0].Quota.Timezone = "Mars/Olympus" },
			[]Problem{{"apps[0].quota.timezone", `unknown time zone "Mars/Olympus"`}}},
		{"timezone empty", func(c *Config) { c.Apps[0].Quota.Timezone = "" },
			[]Problem{{"apps[0].quota.timezone", "required: an IANA time zone such as Asia/Shanghai or UTC"}}},
		{"timezone Local", func(c *Config) { c.Apps[0].Quota.Timezone = "Local" },
			[]Problem{{"apps[0].quota.timezone", `time zone "Local" is each host's own setting: name an IANA zone such as Asia/Shanghai or UTC`}}},
		{"timezone UTC", func(c *Config) { c.Apps[0].Quota.Timezone = "UTC" }, nil},
		{"redis schemes", func(c *Config) { c.Redis.URL = "http://h" },
			[]Problem{{"redis.url", `must be redis://, rediss://, redis-socket:// or redis-sentinel:// (or empty for the embedded Redis), got scheme "http"`}}},
		{"redis sentinel needs master", func(c *Config) { c.Redis.URL = "redis-sentinel://a:26379,b:26379" },
			[]Problem{{"redis.url", "redis-sentinel:// needs ?master=NAME, the name the sentinels monitor"}}},
		{"redis sentinel ok", func(c *Config) { c.Redis.URL = "redis-sentinel://:pw@a:26379,b/1?master=mymaster" }, nil},
		{"redis db", func(c *Config) { c.Redis.URL = "redis://h/x" },
			[]Problem{{"redis.url", `database number must be a non-negative integer, got "x"`}}},
		{"database required", func(c *Config) { c.Database.URL = "" },
			[]Problem{{"database.url", "required: must be sqlite://FILE, postgres:// or postgresql://"}}},
		{"database pool", func(c *Config) { c.Database.MaxOpenConns = 0 },
			[]Problem{{"database.max_open_conns", "must be at least 1, got 0"}}},
		{"database scheme", func(c *Config) { c.Database.URL = "mysql://u@h/db" },
			[]Problem{{"database.url", `must be sqlite://FILE, postgres:// or postgresql://, got scheme "mysql"`}}},
		{"database not a URL", func(c *Config) { c.Database.URL = "host=db user=x" },
			[]Problem{{"database.url", "must be sqlite://FILE, postgres:// or postgresql:// (a URL with a scheme)"}}},
		{"sqlite file", func(c *Config) { c.Database.URL = "sqlite://" },
			[]Problem{{"database.url", "sqlite:// must be followed by a file name, e.g. sqlite://tagcast.db"}}},
		// The store holds the quota ledger: one that dies with the process
		// let each `push send` start from an empty ledger and go over quota.
		{"sqlite in memory", func(c *Config) { c.Database.URL = "sqlite://:memory:" },
			[]Problem{{"database.url", "must name a file, not an in-memory database: the store keeps the quota ledger and what was sent, and an in-memory one forgets them when the process ends"}}},
		{"sqlite shared memory", func(c *Config) { c.Database.URL = "sqlite://file:tc?mode=memory&cache=shared" },
			[]Problem{{"database.url", "must name a file, not an in-memory database: the store keeps the quota ledger and what was sent, and an in-memory one forgets them when the process ends"}}},
		{"postgres host", func(c *Config) { c.Database.URL = "postgresql:///tagcast" },
			[]Problem{{"database.url", "must name a host, e.g. postgres://user@host:5432/tagcast"}}},
		{"postgres ok", func(c *Config) { c.Database.URL = "postgres://u:p@db:5432/tagcast?sslmode=disable" }, nil},
		{"admin addr", func(c *Config) { c.Admin.Addr = "8080" },
			[]Problem{{"admin.addr", `must be host:port, e.g. 127.0.0.1:8080 (a listen address, not a URL), got "8080"`}}},
		{"metrics addr off by default", func(c *Config) { c.Metrics.Addr = "" }, nil},
		{"metrics addr ok", func(c *Config) { c.Metrics.Addr = "127.0.0.1:9100" }, nil},
		{"metrics addr", func(c *Config) { c.Metrics.Addr = "9100" },
			[]Problem{{"metrics.addr", `must be host:port, e.g. 127.0.0.1:8080 (a listen address, not a URL), got "9100"`}}},
		{"admin addr port", func(c *Config) { c.Admin.Addr = ":http" },
			[]Problem{{"admin.addr", `port must be a number from 0 to 65535, got "http"`}}},
		{"admin server", func(c *Config) { c.Admin.Server = "127.0.0.1:8080" },
			[]Problem{{"admin.server", "must be an absolute http:// or https:// URL"}}},
		{"admin env names", func(c *Config) { c.Admin.TokensEnv, c.Admin.TokenEnv = "a-b", "1X" }, []Problem{
			{"admin.tokens_env", `must be an environment variable name (letters, digits, '_'); got 3 characters, not shown (is it the secret itself?)`},
			{"admin.token_env", `must be an environment variable name (letters, digits, '_'); got 2 characters, not shown (is it the secret itself?)`},
		}},
		{"worker", func(c *Config) { c.Worker.Concurrency, c.Worker.ShutdownTimeout = 0, -time.Second }, []Problem{
			{"worker.concurrency", "must be at least 1, got 0"},
			{"worker.shutdown_timeout", "must be a positive duration, got -1s"},
		}},
		{"worker lease and backoff", func(c *Config) {
			c.Worker.Lease = c.Apps[1].Timeout
			c.Worker.Backoff = Backoff{Base: time.Hour, Cap: time.Minute, MaxAttempts: 0}
		}, []Problem{
			{"worker.lease", "must be longer than 5s before the call, apps[0].timeout 10s and worker.store_timeout 15s, 30s in all (a claimed send must outlast its push call and the recording of the answer), got 10s"},
			{"worker.backoff.base", "must not exceed worker.backoff.cap 1m0s, got 1h0m0s"},
			{"worker.backoff.max_attempts", "must be at least 1, got 0"},
		}},
		{"worker waits", func(c *Config) {
			c.Worker.InlineWait, c.Worker.SnoozeLead, c.Worker.MaxSnooze = 0, -time.Second, 0
			c.Worker.AttemptBudget, c.Worker.StoreTimeout, c.Worker.Backoff.Base = 0, 0, 0
		}, []Problem{
			{"worker.backoff.base", "must be a positive duration, got 0s"},
			{"worker.inline_wait", "must be a positive duration, got 0s"},
			{"worker.snooze_lead", "must be a positive duration, got -1s"},
			{"worker.max_snooze", "must be a positive duration, got 0s"},
			{"worker.attempt_budget", "must be a positive duration, got 0s"},
			{"worker.store_timeout", "must be a positive duration, got 0s"},
		}},
		{"worker inline wait under the release lead", func(c *Config) { c.Worker.InlineWait = 300 * time.Millisecond }, []Problem{
			{"worker.inline_wait", "must be at least 1s (the scheduler hands a run to the queue 500ms before its instant and the worker waits the rest inline), got 300ms"},
		}},
		{"scheduler", func(c *Config) { c.Scheduler.Interval = 0 },
			[]Problem{{"scheduler.interval", "must be a positive duration, got 0s"}}},
		{"log", func(c *Config) { c.Log.Level, c.Log.Format = "verbose", "text" }, []Problem{
			{"log.level", `must be trace, debug, info, warn or error, got "verbose"`},
			{"log.format", `must be json or console, got "text"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Default()
			cfg.Apps = []App{validApp("main"), validApp("second")}
			tt.change(cfg)
			err := cfg.Validate()
			var got []Problem
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Validate() = %T %v, want *ValidationError", err, err)
				}
				got = ve.Problems
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateSecretResolution(t *testing.T) {
	t.Parallel()
	const file = `apps:
  - {name: a, app_key: ka, data_center: beijing, app_secret_env: UNSET}
  - {name: b, app_key: kb, data_center: beijing, app_secret_env: EMPTY}
  - {name: c, app_key: kc, data_center: beijing, app_secret_file: /missing}
  - {name: d, app_key: kd, data_center: beijing, app_secret_file: /blank}
  - {name: e, app_key: ke, data_center: beijing, app_secret_file: /ok}
`
	cfg := mustLoad(t, file, env{"EMPTY": "  "}, files{"/blank": "\n\n", "/ok": "v\n"})
	var ve *ValidationError
	if !errors.As(cfg.Validate(), &ve) {
		t.Fatal("Validate() accepted unresolved secrets")
	}
	want := []Problem{
		{"apps[0].app_secret_env", "environment variable UNSET is not set"},
		{"apps[1].app_secret_env", "environment variable EMPTY is empty"},
		{"apps[2].app_secret_file", "cannot read the secret file: open /missing: file does not exist"},
		{"apps[3].app_secret_file", "file /blank is empty"},
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestValidateReportsAllProblemsAtOnce(t *testing.T) {
	t.Parallel()
	const file = `apps:
  - name: main
    app_key: k
    data_center: beijing
  - name: main
    app_secret_env: S
    data_center: moon
    quota: {hour_window: hourly, timezone: Nowhere/City}
log: {format: text}
`
	cfg := mustLoad(t, file, env{"S": "x"}, nil)
	err := cfg.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v", err)
	}
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
	}
	want := []string{"apps[0].app_secret_env", "apps[1].app_key", "apps[1].data_center", "apps[1].quota.hour_window", "apps[1].quota.timezone", "apps[1].name", "log.format"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("problem paths (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), `apps[1].quota.hour_window: must be rolling or clock, got "hourly"`) {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestClientConfig(t *testing.T) {
	t.Parallel()
	a := validApp("main")
	a.Timeout = 3 * time.Second
	a.TimestampUnit = pushapi.TimestampMilliseconds
	got := a.ClientConfig()
	want := pushapi.ClientConfig{AppKey: "key-main", AppSecret: pushapi.NewSecret("s"), DataCenter: "beijing", Timeout: 3 * time.Second,
		TimestampUnit: pushapi.TimestampMilliseconds}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(pushapi.ClientConfig{}, "Now", "HTTPClient")); diff != "" {
		t.Errorf("ClientConfig (-want +got):\n%s", diff)
	}
	if got.AppSecret.Reveal() != "s" {
		t.Errorf("AppSecret not carried over")
	}

	a.Hosts = []string{"http://127.0.0.1:1"}
	got = a.ClientConfig()
	if got.DataCenter != "" || len(got.Hosts) != 1 {
		t.Errorf("with hosts: DataCenter %q Hosts %v, want only the hosts", got.DataCenter, got.Hosts)
	}
	if _, err := pushapi.NewClient(got); err != nil {
		t.Errorf("pushapi.NewClient(ClientConfig()) = %v", err)
	}
	got.Hosts[0] = "changed"
	if a.Hosts[0] != "http://127.0.0.1:1" {
		t.Errorf("ClientConfig shares the Hosts slice with the App")
	}
}

func TestDataCentersAreKnownToPushapi(t *testing.T) {
	t.Parallel()
	for _, dc := range DataCenters {
		if hosts, err := pushapi.DataCenterHosts(dc); err != nil || len(hosts) == 0 {
			t.Errorf("pushapi.DataCenterHosts(%q) = %v, %v", dc, hosts, err)
		}
	}
}

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    *RedisTarget
		wantErr string
	}{
		{raw: "redis://127.0.0.1", want: &RedisTarget{Scheme: "redis", Addrs: []string{"127.0.0.1:6379"}}},
		{raw: "rediss://u:p@cache.example.com:6380/3", want: &RedisTarget{Scheme: "rediss", Addrs: []string{"cache.example.com:6380"}, Username: "u", Password: NewSecret("p"), DB: 3, TLS: true}},
		{raw: "redis://[::1]:7000/0", want: &RedisTarget{Scheme: "redis", Addrs: []string{"[::1]:7000"}}},
		{raw: "redis-socket:///run/redis.sock?db=2", want: &RedisTarget{Scheme: "redis-socket", Addrs: []string{"/run/redis.sock"}, DB: 2}},
		{raw: "redis-sentinel://:pw@s1,s2:26380/4?master=mm&sentinel_password=sp", want: &RedisTarget{
			Scheme: "redis-sentinel", Addrs: []string{"s1:26379", "s2:26380"}, MasterName: "mm", Password: NewSecret("pw"), SentinelPassword: NewSecret("sp"), DB: 4}},
		{raw: "redis-sentinel://s1?master=mm", want: &RedisTarget{Scheme: "redis-sentinel", Addrs: []string{"s1:26379"}, MasterName: "mm"}},
		{raw: "redis://", wantErr: "must name a host, e.g. redis://127.0.0.1:6379/0"},
		{raw: "redis://h:99999", wantErr: "port must be a number from 1 to 65535"},
		{raw: "redis-sentinel://a,,b?master=m", wantErr: "redis-sentinel:// needs host[:port] of each sentinel, comma-separated"},
		{raw: "redis-socket://", wantErr: "redis-socket:// must be followed by the socket path, e.g. redis-socket:///run/redis.sock"},
		{raw: "127.0.0.1:6379", wantErr: "must be redis://, rediss://, redis-socket:// or redis-sentinel:// (or empty for the embedded Redis)"},
		{raw: "redis://:p%zz@h", wantErr: "is not a valid URL (percent-encode special characters in the password)"},
	}
	for _, tt := range tests {
		got, err := ParseRedisURL(tt.raw)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseRedisURL(%q) error = %v, want %q", tt.raw, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRedisURL(%q): %v", tt.raw, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseRedisURL(%q) (-want +got):\n%s", tt.raw, diff)
		}
	}
}

func TestDatabaseDriver(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"sqlite://tagcast.db": DriverSQLite, "postgres://h/db": DriverPostgres, "postgresql://h/db": DriverPostgres, "mysql://h": "",
	} {
		if got := (Database{URL: raw}).Driver(); got != want {
			t.Errorf("Driver(%q) = %q, want %q", raw, got, want)
		}
	}
	if p, ok := (Database{URL: "sqlite:///var/lib/tagcast.db"}).SQLitePath(); !ok || p != "/var/lib/tagcast.db" {
		t.Errorf("SQLitePath = %q, %v", p, ok)
	}
}
