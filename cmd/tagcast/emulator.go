package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/pushapi/emulator"
)

// emulatorFlags are `tagcast emulator`'s own flags. Quota and fault flags,
// when given, override what the --config file says (for every app).
type emulatorFlags struct {
	addr         string
	apps         []string
	disabled     []string
	locked       []string
	restricted   []string
	hourly       int
	daily        int
	hourWindow   string
	dayWindow    string
	timezone     string
	freshness    time.Duration
	maxNonceLen  int
	seed         uint64
	latency      time.Duration
	error500     float64
	error504     float64
	stallSent    float64
	stallDropped float64
	reset        float64
	stallFor     time.Duration
	faultTagAPIs bool
	verbose      bool
}

// emulatorShutdownTimeout bounds a graceful stop (a stalled call is cut).
const emulatorShutdownTimeout = 5 * time.Second

func newEmulatorCmd(g *globals) *cobra.Command {
	f := &emulatorFlags{}
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "run the local stand-in of the push service (Server API, quota, faults, /_emulator/ inspection)",
		Long: `Run the push service emulator: /push.json and the user tag APIs with the service's
signature check, validation, per-App-Key quota windows and "service not enabled" answers,
plus injectable faults and a JSON inspection and control API under /_emulator/.

Apps come from --app KEY:SECRET (repeatable) and/or --config FILE (only when given:
unlike the other commands, the emulator reads no tagcast.yaml by default, so that it
never serves a team config's real apps), a YAML file with the
emulator's keys (apps, faults, freshness, seed, max_pushes, max_nonce_len). Its apps use tagcast's own keys
(app_key, app_secret / app_secret_env / app_secret_file, quota), so tagcast's config file
works too (keys the emulator does not know are ignored; TAGCAST_* variables are not
applied). Quota and fault flags override the
file for every app. It stops gracefully on SIGINT or SIGTERM.`,
		Example: `  tagcast emulator --addr 127.0.0.1:8090 --app uwd1c0sxdlx2:mysecret
  tagcast emulator --app k1:s1 --hourly 100 --daily 1000 --error-500 0.1 --seed 42
  curl -s http://127.0.0.1:8090/_emulator/pushes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd, g)
			if err != nil {
				return err
			}
			return runEmulator(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), g.output, f, cfg)
		},
	}
	fl := cmd.Flags()
	// Shadows the global --config, whose help promises tagcast.yaml by
	// default: the emulator reads a file only when given one.
	fl.StringVar(&g.configPath, "config", "", "emulator config file (read only when given: no default, so a team's tagcast.yaml is never served)")
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8090", "listen address (port 0: any free port)")
	fl.StringArrayVar(&f.apps, "app", nil, "an app as KEY:SECRET (repeatable)")
	fl.StringArrayVar(&f.disabled, "disabled", nil, "App Key whose push service is not enabled: 430/1009, then 429/1008 (repeatable)")
	fl.StringArrayVar(&f.locked, "locked", nil, "App Key of an app locked or deleted: every call 401/1006 (repeatable)")
	fl.StringArrayVar(&f.restricted, "restricted", nil, "App Key whose calls break a method or IP restriction: 401/1007 (repeatable)")
	fl.IntVar(&f.hourly, "hourly", emulator.DefaultHourly, "pushes per hour per App Key")
	fl.IntVar(&f.daily, "daily", emulator.DefaultDaily, "pushes per day per App Key")
	fl.StringVar(&f.hourWindow, "hour-window", emulator.DefaultHourWindow, "hour window: rolling (last 60 min) or clock")
	fl.StringVar(&f.dayWindow, "day-window", emulator.DefaultDayWindow, "day window: calendar or rolling (last 24 h)")
	fl.StringVar(&f.timezone, "timezone", emulator.DefaultTimezone, "time zone of clock hours and calendar days")
	fl.DurationVar(&f.freshness, "freshness", emulator.DefaultFreshness, "accepted Timestamp skew; negative disables the check")
	fl.IntVar(&f.maxNonceLen, "max-nonce-len", emulator.DefaultMaxNonceLen, "longest Nonce accepted: 18 (the service's docs) or 19 (what the official SDKs send)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of fault draws and message ids")
	fl.DurationVar(&f.latency, "latency", 0, "fault: delay every call")
	fl.Float64Var(&f.error500, "error-500", 0, "fault: fraction of calls answered 500/1000")
	fl.Float64Var(&f.error504, "error-504", 0, "fault: fraction of calls answered 504/1050")
	fl.Float64Var(&f.stallSent, "stall-sent", 0, "fault: fraction of calls processed (push recorded), then stalled and dropped")
	fl.Float64Var(&f.stallDropped, "stall-dropped", 0, "fault: fraction of calls stalled and dropped unprocessed")
	fl.Float64Var(&f.reset, "reset", 0, "fault: fraction of calls whose connection is reset after the body is read")
	fl.DurationVar(&f.stallFor, "stall-for", emulator.DefaultStallFor, "fault: how long a stall lasts before the drop")
	fl.BoolVar(&f.faultTagAPIs, "fault-tag-apis", false, "faults also hit the user tag endpoints (default: /push.json only)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log every call")
	return cmd
}

// config builds the emulator's configuration from --config and the flags.
func (f *emulatorFlags) config(cmd *cobra.Command, g *globals) (emulator.Config, error) {
	var cfg emulator.Config
	if g.configPath != "" {
		data, err := os.ReadFile(g.configPath)
		if err != nil {
			return cfg, &exitError{code: 1, err: fmt.Errorf("emulator config: %w", err)}
		}
		if err := yaml.Unmarshal(data, &cfg); err != nil {
			return cfg, &exitError{code: 1, err: fmt.Errorf("emulator config %s: %w", g.configPath, err)}
		}
	}
	for i := range cfg.Apps {
		if err := resolveEmulatorSecret(g, &cfg.Apps[i], fmt.Sprintf("apps[%d]", i)); err != nil {
			return cfg, &exitError{code: 1, err: fmt.Errorf("emulator config %s: %w", g.configPath, err)}
		}
	}
	for _, s := range f.apps {
		a, err := emulator.ParseAppFlag(s)
		if err != nil {
			return cfg, usageError("--app: %v", err)
		}
		if i := slices.IndexFunc(cfg.Apps, func(x emulator.AppConfig) bool { return x.AppKey == a.AppKey }); i >= 0 {
			cfg.Apps[i].Secret = a.Secret
		} else {
			cfg.Apps = append(cfg.Apps, a)
		}
	}
	if len(cfg.Apps) == 0 {
		return cfg, usageError("no apps to serve: give --app KEY:SECRET or --config FILE with apps (the emulator reads no tagcast.yaml unless given --config)")
	}
	for _, set := range []struct {
		flag string
		keys []string
		on   func(a *emulator.AppConfig)
	}{
		{"disabled", f.disabled, func(a *emulator.AppConfig) { a.PushDisabled = true }},
		{"locked", f.locked, func(a *emulator.AppConfig) { a.Locked = true }},
		{"restricted", f.restricted, func(a *emulator.AppConfig) { a.Restricted = true }},
	} {
		for _, key := range set.keys {
			i := slices.IndexFunc(cfg.Apps, func(x emulator.AppConfig) bool { return x.AppKey == key })
			if i < 0 {
				return cfg, usageError("--%s: no app with App Key %q", set.flag, key)
			}
			set.on(&cfg.Apps[i])
		}
	}
	changed := cmd.Flags().Changed
	// A quota flag of 0 would read as "not set" (the defaults, 2 and 3)
	// further down: refused, as the file's own check refuses it.
	for name, v := range map[string]int{"hourly": f.hourly, "daily": f.daily} {
		if changed(name) && v <= 0 {
			return cfg, usageError("--%s: must be positive, got %d", name, v)
		}
	}
	for i := range cfg.Apps {
		q := &cfg.Apps[i].Quota
		if changed("hourly") {
			q.Hourly = f.hourly
		}
		if changed("daily") {
			q.Daily = f.daily
		}
		if changed("hour-window") {
			q.HourWindow = f.hourWindow
		}
		if changed("day-window") {
			q.DayWindow = f.dayWindow
		}
		if changed("timezone") {
			q.Timezone = f.timezone
		}
	}
	// A fault flag sets the global faults and every app's own (which
	// replace the global ones for that app): the flags override the file
	// for every app, as the help says.
	faults := []*emulator.Faults{&cfg.Faults}
	for i := range cfg.Apps {
		if cfg.Apps[i].Faults != nil {
			faults = append(faults, cfg.Apps[i].Faults)
		}
	}
	for name, apply := range map[string]func(fa *emulator.Faults){
		"latency":        func(fa *emulator.Faults) { fa.Latency = emulator.Duration(f.latency) },
		"error-500":      func(fa *emulator.Faults) { fa.Error500 = f.error500 },
		"error-504":      func(fa *emulator.Faults) { fa.Error504 = f.error504 },
		"stall-sent":     func(fa *emulator.Faults) { fa.StallSent = f.stallSent },
		"stall-dropped":  func(fa *emulator.Faults) { fa.StallDropped = f.stallDropped },
		"reset":          func(fa *emulator.Faults) { fa.Reset = f.reset },
		"stall-for":      func(fa *emulator.Faults) { fa.StallFor = emulator.Duration(f.stallFor) },
		"fault-tag-apis": func(fa *emulator.Faults) { fa.TagAPIs = f.faultTagAPIs },
	} {
		if changed(name) {
			for _, fa := range faults {
				apply(fa)
			}
		}
	}
	if changed("freshness") {
		cfg.Freshness = emulator.Duration(f.freshness)
	}
	if changed("max-nonce-len") {
		cfg.MaxNonceLen = f.maxNonceLen
	}
	if changed("seed") {
		cfg.Seed = f.seed
	}
	if err := cfg.Validate(); err != nil {
		if ferr := emulatorFlagProblems(err, changed); ferr != nil {
			return cfg, ferr
		}
		return cfg, &exitError{code: 1, err: fmt.Errorf("emulator config: %w", err)}
	}
	return cfg, nil
}

// emulatorFlagKeys are the config keys (the last part of a problem's path)
// the emulator's flags set.
var emulatorFlagKeys = map[string]string{
	"quota.hour_window": "hour-window", "quota.day_window": "day-window", "quota.timezone": "timezone",
	"faults.latency": "latency", "faults.error_500": "error-500", "faults.error_504": "error-504",
	"faults.stall_sent": "stall-sent", "faults.stall_dropped": "stall-dropped", "faults.reset": "reset",
	"faults.stall_for": "stall-for", "freshness": "freshness", "max_nonce_len": "max-nonce-len",
}

// emulatorFlagProblems is the usage error naming the flags whose values
// the emulator's check refused (it names config keys: "faults.error_500"
// for --error-500 2); nil when no problem comes from a flag.
func emulatorFlagProblems(err error, changed func(string) bool) error {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(err.Error(), "\n") {
		path, rule, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		for key, flag := range emulatorFlagKeys {
			if changed(flag) && (path == key || strings.HasSuffix(path, "."+key)) && !seen[flag+rule] {
				seen[flag+rule] = true
				out = append(out, "--"+flag+": "+rule)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return usageError("%s", strings.Join(out, "; "))
}

// resolveEmulatorSecret fills a.Secret from app_secret_env or app_secret_file.
func resolveEmulatorSecret(g *globals, a *emulator.AppConfig, path string) error {
	if a.Secret != "" {
		return nil
	}
	// As tagcast's own config reads them (config.resolveSecrets): trimmed,
	// and a name that may be the secret pasted in its place never shown.
	switch {
	case a.SecretEnv != "":
		lookup := os.LookupEnv
		if g.env.lookupEnv != nil {
			lookup = g.env.lookupEnv
		}
		v, ok := lookup(a.SecretEnv)
		name := a.SecretEnv
		if !ok && config.MaybePastedEnvName(name) {
			name = "[not shown: unset, and not an upper-case variable name; is it the secret itself?]"
		}
		switch {
		case !ok:
			return fmt.Errorf("%s.app_secret_env: variable %s is not set", path, name)
		case strings.TrimSpace(v) == "":
			return fmt.Errorf("%s.app_secret_env: variable %s is empty", path, name)
		}
		a.Secret = strings.TrimSpace(v)
	case a.SecretFile != "":
		data, err := os.ReadFile(a.SecretFile)
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist) && config.MaybePastedFileName(a.SecretFile):
			return fmt.Errorf("%s.app_secret_file: no such file (its name, %d characters with no '/' or '.', is not shown: is it the secret itself?)", path, len(a.SecretFile))
		case err != nil:
			return fmt.Errorf("%s.app_secret_file: %w", path, err)
		case strings.TrimSpace(string(data)) == "":
			return fmt.Errorf("%s.app_secret_file: file %s is empty", path, a.SecretFile)
		}
		a.Secret = strings.TrimSpace(string(data))
	}
	return nil
}

// runningEmulator is an emulator served on a loopback listener.
type runningEmulator struct {
	em  *emulator.Emulator
	url string
	srv *http.Server
	err chan error
}

// startEmulator serves cfg on addr until stop.
func startEmulator(addr string, cfg emulator.Config, log zerolog.Logger) (*runningEmulator, error) {
	em, err := emulator.New(cfg, emulator.WithLogger(log))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen on %s: %w", addr, err)
	}
	r := &runningEmulator{
		em:  em,
		url: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: em, ReadHeaderTimeout: 10 * time.Second},
		err: make(chan error, 1),
	}
	go func() { r.err <- r.srv.Serve(ln) }()
	return r, nil
}

// stop shuts the server down gracefully, cutting calls that outlast timeout.
func (r *runningEmulator) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = r.srv.Close()
	}
	if serveErr := <-r.err; !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return err
}

// emulatorLogger logs to w in a human-readable form; debug with verbose.
func emulatorLogger(w io.Writer, verbose bool) zerolog.Logger {
	level := zerolog.InfoLevel
	if verbose {
		level = zerolog.DebugLevel
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: w, NoColor: true, TimeFormat: time.TimeOnly}).Level(level).With().Timestamp().Logger()
}

// emulatorBanner is what `tagcast emulator --output json` prints once serving.
type emulatorBanner struct {
	URL     string            `json:"url"`
	Control string            `json:"control"`
	Apps    []emulatorAppLine `json:"apps"`
}

type emulatorAppLine struct {
	AppKey       string         `json:"app_key"`
	PushDisabled bool           `json:"push_disabled"`
	Locked       bool           `json:"locked,omitempty"`
	Restricted   bool           `json:"restricted,omitempty"`
	Quota        emulator.Quota `json:"quota"`
}

func runEmulator(ctx context.Context, out, errOut io.Writer, output string, f *emulatorFlags, cfg emulator.Config) error {
	r, err := startEmulator(f.addr, cfg, emulatorLogger(errOut, f.verbose))
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	banner := emulatorBanner{URL: r.url, Control: r.url + emulator.ControlPrefix}
	for _, key := range r.em.AppKeys() {
		st, err := r.em.App(key)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		banner.Apps = append(banner.Apps, emulatorAppLine{AppKey: key, PushDisabled: st.PushDisabled,
			Locked: st.Locked, Restricted: st.Restricted, Quota: st.Quota.Quota})
	}
	if output == "json" {
		enc := json.NewEncoder(out)
		if err := enc.Encode(banner); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "tagcast emulator: serving the push service API at %s\n", banner.URL)
		for _, a := range banner.Apps {
			state := "push enabled"
			switch {
			case a.Locked:
				state = "LOCKED (every call 401/1006)"
			case a.Restricted:
				state = "RESTRICTED (every call 401/1007)"
			case a.PushDisabled:
				state = "push NOT enabled"
			}
			q := a.Quota
			fmt.Fprintf(out, "  app %s: %s, quota %d/hour (%s), %d/day (%s, %s)\n", a.AppKey, state, q.Hourly, q.HourWindow, q.Daily, q.DayWindow, q.Timezone)
		}
		fmt.Fprintf(out, "  inspection and control: %s (Ctrl-C stops)\n", banner.Control)
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-r.err:
		r.err <- serveErr // stop reads it
	}
	if err := r.stop(emulatorShutdownTimeout); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("emulator: %w", err)}
	}
	if output != "json" {
		fmt.Fprintln(out, "tagcast emulator: stopped")
	}
	return nil
}
