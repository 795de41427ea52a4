package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/internal/simclock"
)

// configFile is the file to load: --config, else the default file
// (tagcast.yaml) when it exists, else "" (defaults and environment only).
func (g *globals) configFile() string {
	if g.configPath != "" {
		return g.configPath
	}
	if g.env.defaultConfig != "" {
		if _, err := os.Stat(g.env.defaultConfig); err == nil {
			return g.env.defaultConfig
		}
	}
	return ""
}

// loadFile loads path with the command's environment, without validating.
func (g *globals) loadFile(path string) (*config.Config, error) {
	var opts []config.Option
	if g.env.lookupEnv != nil {
		opts = append(opts, config.WithLookupEnv(g.env.lookupEnv))
	}
	return config.Load(path, opts...)
}

// loadConfig loads (file, then TAGCAST_* environment), applies the
// command's flag overrides (see bindFlags), and validates the configuration.
// An invalid configuration is an exit-1 error listing every problem.
func (g *globals) loadConfig(overrides ...func(*config.Config) error) (*config.Config, error) {
	return g.loadValidated((*config.Config).Validate, overrides...)
}

// loadClientConfig is loadConfig for a command that never calls the push
// service (campaign, quota, migrate): the App Secrets need not be set
// (config.ValidateWithoutSecrets), so an operator with the admin token
// alone can use the team's configuration file.
func (g *globals) loadClientConfig(overrides ...func(*config.Config) error) (*config.Config, error) {
	return g.loadValidated((*config.Config).ValidateWithoutSecrets, overrides...)
}

// loadAppConfig is loadConfig for a command that calls the push service as
// one app, --app name (tags, push send): only that app's secret must
// resolve (config.ValidateForApp), so another app's unset variable is no
// problem here; a missing one of its own is refused naming its variable.
func (g *globals) loadAppConfig(name string, overrides ...func(*config.Config) error) (*config.Config, *config.App, error) {
	cfg, err := g.loadValidated(func(c *config.Config) error { return c.ValidateForApp(name) }, overrides...)
	if err != nil {
		return nil, nil, err
	}
	app, err := appFromFlag(cfg, name)
	if err != nil {
		return nil, nil, err
	}
	return cfg, app, nil
}

func (g *globals) loadValidated(validate func(*config.Config) error, overrides ...func(*config.Config) error) (*config.Config, error) {
	cfg, err := g.loadFile(g.configFile())
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	for _, o := range overrides {
		if err := o(cfg); err != nil {
			return nil, usageError("%w", err)
		}
	}
	if err := validate(cfg); err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	return cfg, nil
}

// bindFlags is a loadConfig override that copies each flag of cmd the user
// set onto its config key, flags winning over file and environment:
//
//	g.loadConfig(bindFlags(cmd, map[string]string{"addr": "admin.addr", "concurrency": "worker.concurrency"}))
func bindFlags(cmd *cobra.Command, keys map[string]string) func(*config.Config) error {
	return func(cfg *config.Config) error {
		for name, path := range keys {
			f := cmd.Flags().Lookup(name)
			if f == nil || !f.Changed {
				continue
			}
			value := f.Value.String()
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				value = strings.Join(sv.GetSlice(), ",")
			}
			if err := cfg.SetFromFlag(path, value, "--"+name); err != nil {
				return fmt.Errorf("--%s: %v", name, err) //nolint:errorlint // the flag name is the context; the config error is text here
			}
		}
		return nil
	}
}

// appFromFlag returns the configured app named by --app; an unknown name is a
// usage error listing the configured ones.
func appFromFlag(cfg *config.Config, name string) (*config.App, error) {
	if app, ok := cfg.App(name); ok {
		return app, nil
	}
	if len(cfg.Apps) == 0 {
		return nil, usageError("--app %q: no apps are configured (see config.example.yaml)", name)
	}
	return nil, usageError("--app %q: not configured; apps: %v", name, cfg.AppNames())
}

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "inspect the configuration",
		Args:  cobra.ArbitraryArgs,
		RunE:  requireSubcommand,
	}
	cmd.AddCommand(newConfigCheckCmd(g))
	return cmd
}

// requireSubcommand is the RunE of a command group: without a (known)
// subcommand it is a usage error, never a silent help page with exit 0.
func requireSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return usageError("%s needs a subcommand; see %s --help", cmd.CommandPath(), cmd.CommandPath())
}

// configCheckReport is `config check --output json`.
type configCheckReport struct {
	File     string           `json:"file"`
	Valid    bool             `json:"valid"`
	Problems []config.Problem `json:"problems"`
	Config   map[string]any   `json:"config,omitempty"`
	// Notes are what a valid configuration still leaves out: what serve
	// and api need, and TAGCAST_ variables that name no key.
	Notes []string `json:"notes,omitempty"`
}

func newConfigCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check [FILE]",
		Short: "validate a config file and print the effective configuration, secrets redacted",
		Long: `Loads FILE (or --config, or tagcast.yaml when present), applies the TAGCAST_*
environment overrides, resolves the App Secrets and validates everything.
Prints each key's effective value and where it came from (default, file, env,
flag); secrets and URL passwords print as [redacted]. Exit 1 with every
problem listed when the configuration is invalid.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := g.configFile()
			if len(args) == 1 {
				path = args[0]
			}
			report := configCheckReport{File: path, Problems: []config.Problem{}}
			cfg, err := g.loadFile(path)
			var ve *config.ValidationError
			switch {
			case errors.As(err, &ve):
				// Load's problems (unknown keys, bad types) and, in the same
				// pass, the rules the rest of the file breaks.
				report.Problems = ve.Problems
				if cfg != nil {
					report.Problems = append(report.Problems, ruleProblems(cfg, ve.Problems)...)
				}
			case err != nil && g.output == "json":
				// Unreadable, or not YAML: still a report on stdout, for
				// the tools that read it.
				report.Problems = []config.Problem{{Path: "(file)", Rule: err.Error()}}
			case err != nil:
				return &exitError{code: 1, err: err}
			default:
				report.Config = cfg.Redacted()
				if err := cfg.Validate(); errors.As(err, &ve) {
					report.Problems = ve.Problems
				}
				var environ []string
				if g.env.environ != nil {
					environ = g.env.environ()
				}
				report.Notes = configNotes(cfg, environ)
			}
			report.Valid = len(report.Problems) == 0
			out := cmd.OutOrStdout()
			if g.output == "json" {
				if err := writeJSON(out, report); err != nil {
					return err
				}
				if !report.Valid {
					return &exitError{code: 1, err: fmt.Errorf("config %s: %s", displayFile(path), plural(len(report.Problems), "problem"))}
				}
				return nil
			}
			if !report.Valid {
				return &exitError{code: 1, err: &config.ValidationError{Source: path, Problems: report.Problems}}
			}
			fmt.Fprintf(out, "%s: valid, %s\n", displayFile(path), plural(len(cfg.Apps), "app"))
			for _, n := range report.Notes {
				fmt.Fprintf(out, "note: %s\n", n)
			}
			return writeSettings(out, cfg.Settings())
		},
	}
}

// configNotes are what a valid cfg still leaves out, in environ: the
// apps and admin tokens serve and api refuse to start without, and
// TAGCAST_ variables that name no key (a misspelt override is otherwise
// ignored).
func configNotes(cfg *config.Config, environ []string) []string {
	var notes []string
	if len(cfg.Apps) == 0 {
		notes = append(notes, "no apps: `serve` and `api` refuse to start without one (`demo` and `migrate` need none)")
	}
	if len(cfg.Admin.Tokens) == 0 {
		notes = append(notes, fmt.Sprintf("%s holds no admin token: `serve` and `api` refuse to start without one", cfg.ShownEnv(cfg.Admin.TokensEnv)))
	}
	for _, name := range cfg.UnknownEnv(environ, simclock.EnvVar) {
		notes = append(notes, fmt.Sprintf("%s names no configuration key: it is ignored", name))
	}
	return notes
}

// ruleProblems are the problems Validate finds in cfg at paths that have no
// problem in reported (a key Load could not read keeps its default, which
// says nothing about the file).
func ruleProblems(cfg *config.Config, reported []config.Problem) []config.Problem {
	var ve *config.ValidationError
	if err := cfg.Validate(); !errors.As(err, &ve) {
		return nil
	}
	var out []config.Problem
	for _, p := range ve.Problems {
		if !slices.ContainsFunc(reported, func(r config.Problem) bool { return r.Path == p.Path }) {
			out = append(out, p)
		}
	}
	return out
}

func displayFile(path string) string {
	if path == "" {
		return "(no file: defaults and environment)"
	}
	return path
}

func writeSettings(w io.Writer, settings []config.Setting) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE")
	for _, s := range settings {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Path, s.Value, s.Source)
	}
	return tw.Flush()
}

// writeJSON writes v as indented JSON (HTML characters unescaped).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
