// Package config is tagcast's typed configuration: a YAML file, then
// TAGCAST_* environment overrides, then command-line flags (commands apply
// their own flags with Config.Set). Validate reports every problem at once,
// each with its field path.
//
// App Secrets and admin tokens are never stored in the file: the file names
// the environment variable or file that holds them, Load resolves them into
// Secret values, and a Secret prints as "[redacted]" in every form. The
// package must never log, return in an error or dump a secret, nor a
// password inside a Redis or database URL.
package config

import (
	"slices"
	"time"

	"github.com/tagcast/tagcast/pushapi"
)

// Window kinds of an app's quota.
const (
	HourWindowRolling = "rolling" // the last 60 minutes (default: the conservative choice)
	HourWindowClock   = "clock"   // the current clock hour in Quota.Timezone
	DayWindowCalendar = "calendar"
	DayWindowRolling  = "rolling"
)

// Log formats.
const (
	LogFormatJSON    = "json"
	LogFormatConsole = "console"
)

// Defaults, as DESIGN.md's Configuration section lists them.
const (
	DefaultAppTimeout    = 10 * time.Second
	DefaultQuotaHourly   = 2
	DefaultQuotaDaily    = 3
	DefaultQuotaTimezone = "Asia/Shanghai"
	DefaultDatabaseURL   = "sqlite://tagcast.db"
	// MinInlineWait is the shortest worker.inline_wait: it must cover the
	// scheduler's release lead (runs reach the queue 500 ms early).
	MinInlineWait = time.Second
	// BeforeCall is the longest a send may take from its quota reservation
	// to the start of its call: the guard's UseBy (quota.MaxUseBy, 4 s) and
	// the checks after it. The guard's margin, the claim's lease and the
	// attempt budget all allow for it.
	BeforeCall = 5 * time.Second
	// RunTaskTimeout is the timeout of a run's queue task
	// (queue.DefaultOptions.Timeout; a test keeps the two equal):
	// worker.inline_wait and worker.attempt_budget must be shorter, or no
	// run would ever be sent.
	RunTaskTimeout = 5 * time.Minute
	// DefaultDatabaseMaxOpenConns is the PostgreSQL pool of one process.
	DefaultDatabaseMaxOpenConns = 40
	DefaultAdminAddr            = "127.0.0.1:8080"
	DefaultAdminTokensEnv       = "TAGCAST_ADMIN_TOKENS"
	DefaultAdminServer          = "http://127.0.0.1:8080"
	DefaultAdminTokenEnv        = "TAGCAST_ADMIN_TOKEN"
	DefaultWorkerConcurrency    = 20
	DefaultShutdownTimeout      = 30 * time.Second
	DefaultWorkerLease          = 2 * time.Minute
	DefaultBackoffBase          = 30 * time.Second
	DefaultBackoffCap           = 30 * time.Minute
	DefaultBackoffAttempts      = 5
	DefaultInlineWait           = 10 * time.Second
	DefaultSnoozeLead           = 2 * time.Second
	DefaultMaxSnooze            = 15 * time.Minute
	DefaultAttemptBudget        = 20 * time.Second
	DefaultStoreTimeout         = 15 * time.Second
	DefaultSchedulerInterval    = time.Second
	DefaultLogLevel             = "info"
)

// Config is the whole configuration. Build one with Load or Default; call
// Validate before use.
type Config struct {
	Apps      []App     `yaml:"apps"`
	Redis     Redis     `yaml:"redis"`
	Database  Database  `yaml:"database"`
	Admin     Admin     `yaml:"admin"`
	Worker    Worker    `yaml:"worker"`
	Scheduler Scheduler `yaml:"scheduler"`
	Metrics   Metrics   `yaml:"metrics"`
	Log       Log       `yaml:"log"`

	// file is the file Load read, if any.
	file string
	// sources records where each non-default leaf came from ("file",
	// "env TAGCAST_X", "flag"), keyed by field path.
	sources map[string]string
	// fileLists holds, by path, each list of strings in the file that Load
	// dropped a refused item of (a mapping among hosts), for Validate to
	// name every item kept by its index in the file, not its place in the
	// shorter list.
	fileLists map[string]fileList
	// hiddenEnv holds the *_env names never displayed: unset, and not an
	// upper-case variable name, so perhaps a secret pasted in its place.
	hiddenEnv map[string]bool
	// hiddenFile holds the app_secret_file names never displayed: no such
	// file, and no '/' or '.' in the name (maybe the secret itself).
	hiddenFile map[string]bool
	// lookupEnv and readFile resolve secrets (nil: the process's).
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
}

// fileList is a list of strings as Load kept it from the file: its items,
// and the index each has in the file.
type fileList struct {
	items []string
	index []int
}

// App is one App Key of the push service with its quota.
type App struct {
	// Name is how campaigns and commands refer to the app.
	Name   string `yaml:"name"`
	AppKey string `yaml:"app_key"`
	// AppSecretEnv names the environment variable holding the App Secret.
	AppSecretEnv string `yaml:"app_secret_env"`
	// AppSecretFile is a file holding the App Secret (surrounding white space
	// is trimmed). Exactly one of AppSecretEnv and AppSecretFile is set.
	AppSecretFile string `yaml:"app_secret_file"`
	// DataCenter selects the service's primary/backup host pair.
	DataCenter string `yaml:"data_center"`
	// Hosts are explicit base URLs (primary first) used instead of the data
	// center's, e.g. the local emulator.
	Hosts []string `yaml:"hosts"`
	// Timeout bounds each call to the service, response body included.
	Timeout time.Duration `yaml:"timeout"`
	// TimestampUnit is the unit of the signed Timestamp header: seconds
	// (default: what the service's official SDKs send, and it accepts) or
	// milliseconds (what its docs say). pushapi.TimestampSeconds/Milliseconds.
	TimestampUnit string `yaml:"timestamp_unit"`
	Quota         Quota  `yaml:"quota"`

	// Secret is the App Secret resolved by Load from AppSecretEnv or
	// AppSecretFile. Code that builds an App by hand may set it directly and
	// leave both sources empty.
	Secret Secret `yaml:"-"`

	// secretProblem is why the secret could not be resolved (reported by
	// Validate); it never contains the secret.
	secretProblem string
	// onlyFrom lists the TAGCAST_APPS_N_* variables that alone define an
	// app Load added past the file's (a mistyped index adds one too), for
	// Validate to name with the problems of its keys they do not set.
	onlyFrom []string
}

// Quota is an app's send allowance on /push.json and how its windows are
// counted. Quotas can be raised by contract, hence per app.
type Quota struct {
	Hourly     int    `yaml:"hourly"`
	Daily      int    `yaml:"daily"`
	HourWindow string `yaml:"hour_window"` // rolling | clock
	DayWindow  string `yaml:"day_window"`  // calendar | rolling
	Timezone   string `yaml:"timezone"`    // IANA name for clock hours and calendar days
}

// Location loads the quota's time zone.
func (q Quota) Location() (*time.Location, error) { return time.LoadLocation(q.Timezone) }

// Redis is where the task queue and the quota counters live.
type Redis struct {
	// URL is empty for an embedded in-process Redis, else one of the forms
	// ParseRedisURL accepts.
	URL string `yaml:"url"`
}

// Embedded reports whether tagcast runs an in-process Redis.
func (r Redis) Embedded() bool { return r.URL == "" }

// Database is the campaign store.
type Database struct {
	// URL is sqlite://PATH (sqlite:///abs/path for an absolute path) or
	// postgres:// / postgresql://.
	URL string `yaml:"url"`
	// MaxOpenConns caps the store's PostgreSQL connections in one process
	// (default 40; SQLite always uses one); the quota guard lock holds one
	// more of its own. Keep it above worker.concurrency.
	MaxOpenConns int `yaml:"max_open_conns"`
}

// Admin configures the admin HTTP API: the server side (Addr, Tokens) and
// where the CLI finds it (Server, Token).
type Admin struct {
	Addr      string `yaml:"addr"`
	TokensEnv string `yaml:"tokens_env"`
	Server    string `yaml:"server"`
	TokenEnv  string `yaml:"token_env"`

	// Tokens are the bearer tokens the server accepts, resolved by Load from
	// the comma-separated variable TokensEnv (empty when it is unset).
	Tokens []Secret `yaml:"-"`
	// Token is the bearer token the CLI sends, resolved from TokenEnv.
	Token Secret `yaml:"-"`
}

// Accepts reports, in constant time per token, whether bearer is one of
// Tokens.
func (a Admin) Accepts(bearer string) bool {
	ok := false
	for _, t := range a.Tokens {
		if t.Matches(bearer) {
			ok = true
		}
	}
	return ok
}

// Worker configures the asynq worker (see worker.Config for each knob).
type Worker struct {
	Concurrency     int           `yaml:"concurrency"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Lease is how long a claimed send is reserved to one worker, from its
	// quota slot's instant; it must outlast BeforeCall, every app's timeout
	// (a whole push call) and StoreTimeout (recording the answer).
	Lease   time.Duration `yaml:"lease"`
	Backoff Backoff       `yaml:"backoff"`
	// InlineWait is the longest real time a run waits inside the handler
	// before it is handed back to the queue (snoozed).
	InlineWait time.Duration `yaml:"inline_wait"`
	// SnoozeLead: a snoozed run is delivered this much before its instant.
	SnoozeLead time.Duration `yaml:"snooze_lead"`
	// MaxSnooze caps one snooze; the run then looks again.
	MaxSnooze time.Duration `yaml:"max_snooze"`
	// AttemptBudget is the task time that must be left to start a send.
	AttemptBudget time.Duration `yaml:"attempt_budget"`
	// StoreTimeout bounds recording an outcome after the push call.
	StoreTimeout time.Duration `yaml:"store_timeout"`
}

// Backoff is the retry policy of sends in the retry class: exponential with
// full jitter from Base, capped at Cap, at most MaxAttempts calls per send.
type Backoff struct {
	Base        time.Duration `yaml:"base"`
	Cap         time.Duration `yaml:"cap"`
	MaxAttempts int           `yaml:"max_attempts"`
}

// Metrics configures the Prometheus endpoint of processes without the admin
// API (tagcast worker, tagcast scheduler); the api role serves /metrics on
// admin.addr.
type Metrics struct {
	// Addr is where /metrics is served (host:port); "" serves none.
	Addr string `yaml:"addr"`
}

// Scheduler configures the campaign scheduler.
type Scheduler struct {
	Interval time.Duration `yaml:"interval"`
}

// Log configures the zerolog logger.
type Log struct {
	Level  string `yaml:"level"`  // trace | debug | info | warn | error
	Format string `yaml:"format"` // json | console
}

// Default returns the configuration with every default and no app.
func Default() *Config {
	return &Config{
		Database: Database{URL: DefaultDatabaseURL, MaxOpenConns: DefaultDatabaseMaxOpenConns},
		Admin: Admin{
			Addr:      DefaultAdminAddr,
			TokensEnv: DefaultAdminTokensEnv,
			Server:    DefaultAdminServer,
			TokenEnv:  DefaultAdminTokenEnv,
		},
		Worker: Worker{
			Concurrency:     DefaultWorkerConcurrency,
			ShutdownTimeout: DefaultShutdownTimeout,
			Lease:           DefaultWorkerLease,
			Backoff:         Backoff{Base: DefaultBackoffBase, Cap: DefaultBackoffCap, MaxAttempts: DefaultBackoffAttempts},
			InlineWait:      DefaultInlineWait,
			SnoozeLead:      DefaultSnoozeLead,
			MaxSnooze:       DefaultMaxSnooze,
			AttemptBudget:   DefaultAttemptBudget,
			StoreTimeout:    DefaultStoreTimeout,
		},
		Scheduler: Scheduler{Interval: DefaultSchedulerInterval},
		Log:       Log{Level: DefaultLogLevel, Format: LogFormatJSON},
	}
}

// DefaultApp returns an app with every default (timeout, quota) and nothing
// else; every app read from a file or the environment starts from it.
func DefaultApp() App {
	return App{
		Timeout:       DefaultAppTimeout,
		TimestampUnit: pushapi.TimestampSeconds,
		Quota: Quota{
			Hourly:     DefaultQuotaHourly,
			Daily:      DefaultQuotaDaily,
			HourWindow: HourWindowRolling,
			DayWindow:  DayWindowCalendar,
			Timezone:   DefaultQuotaTimezone,
		},
	}
}

// File is the config file Load read ("" when none).
func (c *Config) File() string { return c.file }

// App returns the app called name.
func (c *Config) App(name string) (*App, bool) {
	for i := range c.Apps {
		if c.Apps[i].Name == name {
			return &c.Apps[i], true
		}
	}
	return nil, false
}

// AppNames lists the configured app names in order.
func (c *Config) AppNames() []string {
	names := make([]string, 0, len(c.Apps))
	for _, a := range c.Apps {
		names = append(names, a.Name)
	}
	return names
}

// ClientConfig is the pushapi client configuration of the app. Explicit
// Hosts take precedence over DataCenter. The caller may add an HTTP client,
// a clock or a user agent before calling pushapi.NewClient.
func (a *App) ClientConfig() pushapi.ClientConfig {
	cc := pushapi.ClientConfig{
		AppKey:        a.AppKey,
		AppSecret:     pushapi.NewSecret(a.Secret.Reveal()),
		Timeout:       a.Timeout,
		TimestampUnit: a.TimestampUnit,
	}
	if len(a.Hosts) > 0 {
		cc.Hosts = slices.Clone(a.Hosts)
	} else {
		cc.DataCenter = a.DataCenter
	}
	return cc
}
