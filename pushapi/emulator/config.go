package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // quota time zones must load on hosts without zoneinfo

	"github.com/tagcast/tagcast/internal/calendar"
)

// Defaults used where a Config leaves a field at its zero value.
const (
	DefaultHourly     = 2
	DefaultDaily      = 3
	DefaultHourWindow = HourWindowRolling
	DefaultDayWindow  = DayWindowCalendar
	DefaultTimezone   = "Asia/Shanghai"
	DefaultFreshness  = 5 * time.Minute
	DefaultMaxPushes  = 10000
	DefaultStallFor   = 2 * time.Second
	// DefaultMaxNonceLen is the longest Nonce accepted by default: the
	// service's docs say at most 18 characters.
	DefaultMaxNonceLen = 18
	// SDKMaxNonceLen is the other choice of Config.MaxNonceLen: the official
	// server SDKs send nonces of up to 19 digits, and the service takes them.
	SDKMaxNonceLen = 19
	// BatchSetPerSecond is the documented rate limit of /user/tag/batch/set.json.
	BatchSetPerSecond = 10
)

// Window modes of Quota.
const (
	HourWindowRolling = "rolling" // the last 60 minutes
	HourWindowClock   = "clock"   // the current clock hour in the time zone
	DayWindowCalendar = "calendar"
	DayWindowRolling  = "rolling" // the last 24 hours
)

// Config is the emulator's start-up configuration. The YAML form (read by
// `tagcast emulator --config`) uses the same snake_case keys as the JSON one.
type Config struct {
	Apps   []AppConfig `json:"apps" yaml:"apps"`
	Faults Faults      `json:"faults" yaml:"faults"` // global; an app's own Faults replace them
	// Freshness is how far a request's Timestamp may be from the emulator's
	// clock (either way). Zero means DefaultFreshness, negative disables the
	// check (useful when clients sign with a clock other than the emulator's).
	Freshness Duration `json:"freshness" yaml:"freshness"`
	Seed      uint64   `json:"seed" yaml:"seed"`             // seeds fault draws and message ids
	MaxPushes int      `json:"max_pushes" yaml:"max_pushes"` // pushes kept for inspection; 0: DefaultMaxPushes
	// MaxNonceLen is the longest Nonce header accepted: 18 (what the docs
	// say; 0 means this default, DefaultMaxNonceLen) or 19 (what the official
	// SDKs send, SDKMaxNonceLen). The public material disagrees, so the
	// conservative limit is the default.
	MaxNonceLen int `json:"max_nonce_len" yaml:"max_nonce_len"`
}

// AppConfig is one App Key of the emulated service.
type AppConfig struct {
	AppKey string `json:"app_key" yaml:"app_key"`
	// Secret is the App Secret. It is never returned by the inspection API.
	Secret string `json:"app_secret,omitempty" yaml:"app_secret"`
	// SecretEnv names an environment variable holding the secret; it is
	// resolved by the command line from its config file, not by New, SetApp
	// or the control API (whose POST apps body must give app_secret). (These
	// keys match tagcast's own config, so `tagcast emulator --config
	// tagcast.yaml` serves its apps.)
	SecretEnv string `json:"app_secret_env,omitempty" yaml:"app_secret_env"`
	// SecretFile names a file holding the secret; resolved by the command line.
	SecretFile string `json:"app_secret_file,omitempty" yaml:"app_secret_file"`
	// PushDisabled means the push service is not enabled for this App Key:
	// /push.json answers 430/1009, then 429/1008 (see the package doc).
	PushDisabled bool `json:"push_disabled" yaml:"push_disabled"`
	// Locked means the app is locked or deleted: every authenticated call
	// is refused 401/1006.
	Locked bool `json:"locked" yaml:"locked"`
	// Restricted means the calls come from a method or an IP the app's
	// settings do not allow: every authenticated call is refused 401/1007.
	Restricted bool    `json:"restricted" yaml:"restricted"`
	Quota      Quota   `json:"quota" yaml:"quota"`
	Faults     *Faults `json:"faults,omitempty" yaml:"faults"` // nil: the global faults apply
	Users      []User  `json:"users,omitempty" yaml:"users"`   // seeded users of the app
}

// Quota is an App Key's /push.json quota. Zero fields take the defaults
// (2 an hour, 3 a day, rolling hour, calendar day, Asia/Shanghai).
type Quota struct {
	Hourly     int    `json:"hourly" yaml:"hourly"`
	Daily      int    `json:"daily" yaml:"daily"`
	HourWindow string `json:"hour_window" yaml:"hour_window"` // rolling | clock
	DayWindow  string `json:"day_window" yaml:"day_window"`   // calendar | rolling
	Timezone   string `json:"timezone" yaml:"timezone"`
}

// Faults are injected failures. Fractions are probabilities in [0, 1] drawn
// once per call (their sum must not exceed 1); Latency delays every call.
// By default faults apply to /push.json only; TagAPIs extends them to the
// user tag endpoints.
type Faults struct {
	Latency  Duration `json:"latency" yaml:"latency"`
	Error500 float64  `json:"error_500" yaml:"error_500"` // answer 500 {"code":1000}
	Error504 float64  `json:"error_504" yaml:"error_504"` // answer 504 {"code":1050}
	// StallSent: process the call (a push is recorded as sent when accepted),
	// wait StallFor, then drop the connection without an answer.
	StallSent float64 `json:"stall_sent" yaml:"stall_sent"`
	// StallDropped: read the body, wait StallFor, drop the connection; the
	// call is not processed (a push is not recorded).
	StallDropped float64 `json:"stall_dropped" yaml:"stall_dropped"`
	// Reset: read the body, then reset the connection (RST, SO_LINGER 0);
	// the call is not processed.
	Reset    float64  `json:"reset" yaml:"reset"`
	StallFor Duration `json:"stall_for" yaml:"stall_for"` // 0: DefaultStallFor
	TagAPIs  bool     `json:"tag_apis" yaml:"tag_apis"`
}

// User is a user of an app, as the tag APIs and audience resolution see it.
type User struct {
	ID          string   `json:"id" yaml:"id"`
	Tags        []string `json:"tags" yaml:"tags"`
	PackageName string   `json:"package_name,omitempty" yaml:"package_name"`
}

// Duration is a time.Duration written as "1m30s" in JSON and YAML.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON accepts "1m30s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return d.UnmarshalText([]byte(s))
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: want a string like \"1m30s\": %w", err)
	}
	*d = Duration(n)
	return nil
}

// ParseAppFlag parses the command line's "KEY:SECRET" form.
func ParseAppFlag(s string) (AppConfig, error) {
	key, secret, ok := strings.Cut(s, ":")
	if !ok || key == "" || secret == "" {
		return AppConfig{}, errors.New("want KEY:SECRET with both parts non-empty")
	}
	return AppConfig{AppKey: key, Secret: secret}, nil
}

// withDefaults returns q with zero fields set to the defaults.
func (q Quota) withDefaults() Quota {
	if q.Hourly == 0 {
		q.Hourly = DefaultHourly
	}
	if q.Daily == 0 {
		q.Daily = DefaultDaily
	}
	if q.HourWindow == "" {
		q.HourWindow = DefaultHourWindow
	}
	if q.DayWindow == "" {
		q.DayWindow = DefaultDayWindow
	}
	if q.Timezone == "" {
		q.Timezone = DefaultTimezone
	}
	return q
}

// validate checks a quota that already has its defaults; path prefixes the
// field names in errors.
func (q Quota) validate(path string) (*time.Location, error) {
	var errs []error
	if q.Hourly < 0 {
		errs = append(errs, fmt.Errorf("%s.hourly: must be positive, got %d", path, q.Hourly))
	}
	if q.Daily < 0 {
		errs = append(errs, fmt.Errorf("%s.daily: must be positive, got %d", path, q.Daily))
	}
	if q.HourWindow != HourWindowRolling && q.HourWindow != HourWindowClock {
		errs = append(errs, fmt.Errorf("%s.hour_window: must be rolling or clock, got %q", path, q.HourWindow))
	}
	if q.DayWindow != DayWindowCalendar && q.DayWindow != DayWindowRolling {
		errs = append(errs, fmt.Errorf("%s.day_window: must be calendar or rolling, got %q", path, q.DayWindow))
	}
	// calendar.LoadZone, as the quota guard and the schedules: a name that
	// means the host's own zone ("Local") would count another day on
	// another machine.
	loc, err := calendar.LoadZone(q.Timezone)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s.timezone: %w", path, err))
	}
	return loc, errors.Join(errs...)
}

// Validate checks the faults; path prefixes the field names in errors.
func (f Faults) Validate(path string) error {
	var errs []error
	if f.Latency < 0 {
		errs = append(errs, fmt.Errorf("%s.latency: must not be negative, got %s", path, time.Duration(f.Latency)))
	}
	if f.StallFor < 0 {
		errs = append(errs, fmt.Errorf("%s.stall_for: must not be negative, got %s", path, time.Duration(f.StallFor)))
	}
	sum := 0.0
	for _, p := range []struct {
		name string
		v    float64
	}{{"error_500", f.Error500}, {"error_504", f.Error504}, {"stall_sent", f.StallSent}, {"stall_dropped", f.StallDropped}, {"reset", f.Reset}} {
		if p.v < 0 || p.v > 1 || p.v != p.v {
			errs = append(errs, fmt.Errorf("%s.%s: must be a fraction in [0, 1], got %v", path, p.name, p.v))
			continue
		}
		sum += p.v
	}
	if sum > 1+1e-9 {
		errs = append(errs, fmt.Errorf("%s: error_500 + error_504 + stall_sent + stall_dropped + reset must not exceed 1, got %v", path, sum))
	}
	return errors.Join(errs...)
}

func (f Faults) stallFor() time.Duration {
	if f.StallFor == 0 {
		return DefaultStallFor
	}
	return time.Duration(f.StallFor)
}

// secretSource is where an app being checked came from, which decides what
// the message for a missing App Secret can offer: only the command line
// resolves app_secret_env and app_secret_file, from its config file, before
// it calls New.
type secretSource int

const (
	secretFromConfig  secretSource = iota // a Config: the command line's file and flags, or New
	secretFromGo                          // SetApp
	secretFromControl                     // the body of POST /_emulator/apps
	secretFromPatch                       // an AppPatch (PATCH /_emulator/apps/{key}, UpdateApp)
)

// missingSecret explains a missing App Secret of a, for the field path.
func missingSecret(a AppConfig, path string, src secretSource) error {
	ref := ""
	switch {
	case a.SecretEnv != "" && a.SecretFile != "":
		ref = "app_secret_env and app_secret_file are"
	case a.SecretEnv != "":
		ref = "app_secret_env is"
	case a.SecretFile != "":
		ref = "app_secret_file is"
	}
	switch {
	case src == secretFromPatch:
		return fmt.Errorf("%s.app_secret: must not be empty (leave it out to keep the app's secret)", path)
	case ref == "" && src == secretFromConfig:
		// The command line's own message: its config file can name the
		// secret instead of holding it.
		return fmt.Errorf("%s.app_secret: required (or app_secret_env / app_secret_file)", path)
	case ref == "":
		return fmt.Errorf("%s.app_secret: required", path)
	case src == secretFromControl:
		return fmt.Errorf("%s.app_secret: required: %s resolved only from the command line's config file (tagcast emulator --config), never from a control API body; the body must give app_secret itself", path, ref)
	case src == secretFromGo:
		return fmt.Errorf("%s.app_secret: required: %s resolved only by the command line from its config file (tagcast emulator --config), not by SetApp; set Secret itself", path, ref)
	}
	// A Config holding a reference and no secret: the command line
	// resolves them before validating, so this is a Go caller of New or
	// Config.Validate.
	return fmt.Errorf("%s.app_secret: required: %s resolved only by the command line from its config file (tagcast emulator --config), not by New or Config.Validate; set Secret itself", path, ref)
}

// validateApp checks one app; path is its place in the config ("apps[0]"),
// src where it came from.
func validateApp(a AppConfig, path string, src secretSource) (*time.Location, error) {
	var errs []error
	if a.AppKey == "" {
		errs = append(errs, fmt.Errorf("%s.app_key: required", path))
	}
	if a.Secret == "" {
		errs = append(errs, missingSecret(a, path, src))
	}
	loc, err := a.Quota.withDefaults().validate(path + ".quota")
	if err != nil {
		errs = append(errs, err)
	}
	if a.Faults != nil {
		if err := a.Faults.Validate(path + ".faults"); err != nil {
			errs = append(errs, err)
		}
	}
	for i, u := range a.Users {
		if err := checkUser(fmt.Sprintf("%s.users[%d]", path, i), u); err != nil {
			errs = append(errs, err)
		}
	}
	return loc, errors.Join(errs...)
}

// Validate checks the whole configuration and names every bad field.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]int{}
	for i, a := range c.Apps {
		path := fmt.Sprintf("apps[%d]", i)
		if _, err := validateApp(a, path, secretFromConfig); err != nil {
			errs = append(errs, err)
		}
		if j, dup := seen[a.AppKey]; dup && a.AppKey != "" {
			errs = append(errs, fmt.Errorf("%s.app_key: duplicate of apps[%d]", path, j))
		}
		seen[a.AppKey] = i
	}
	if err := c.Faults.Validate("faults"); err != nil {
		errs = append(errs, err)
	}
	if c.MaxPushes < 0 {
		errs = append(errs, fmt.Errorf("max_pushes: must not be negative, got %d", c.MaxPushes))
	}
	if c.MaxNonceLen != 0 && c.MaxNonceLen != DefaultMaxNonceLen && c.MaxNonceLen != SDKMaxNonceLen {
		errs = append(errs, fmt.Errorf("max_nonce_len: must be %d (the docs) or %d (the official SDKs), got %d", DefaultMaxNonceLen, SDKMaxNonceLen, c.MaxNonceLen))
	}
	return errors.Join(errs...)
}
