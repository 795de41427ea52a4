package main

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// globals are the flags every subcommand shares.
type globals struct {
	configPath string // --config; default tagcast.yaml when present
	output     string // --output table|json

	env environment // streams and environment variables (tests replace them)
}

// exitError carries an explicit exit code (1: failed or invalid, 2: usage).
// A nil err means the command already printed what went wrong.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks an error as a usage error (exit code 2).
func usageError(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...)}
}

// isUsageError reports whether cobra rejected the command line itself
// (unknown command or flag, wrong number of arguments).
func isUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// newRootCmd builds the command tree running against env (streams and
// environment variables).
func newRootCmd(env environment) *cobra.Command {
	g := &globals{env: env}
	root := &cobra.Command{
		Use:           "tagcast",
		Short:         "Scheduled push campaigns through the push service's Server API, inside its quota",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch g.output {
			case "table", "json":
				return nil
			default:
				return usageError("--output: must be table or json, got %q", g.output)
			}
		},
	}
	root.SetIn(env.stdin)
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	root.PersistentFlags().StringVar(&g.configPath, "config", "", "config file (default tagcast.yaml when present)")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table or json")

	// Bare `tagcast` is a usage error, as a bare command group is: a
	// script whose call lost its subcommand must not read a help page and
	// exit 0.
	root.RunE = requireSubcommand
	// Whatever pflag's wording (bad flag syntax: ---status), a command
	// line it refuses is a usage error (exit 2).
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	root.SetHelpCommand(newHelpCmd())
	root.AddCommand(newVersionCmd(g))
	// Subcommands register here, one line each.
	registerCommands(root, g)
	explainArgs(root)
	return root
}

// explainArgs makes every command's argument-count error name the command
// and what it takes: cobra's own says only "accepts 1 arg(s), received 0",
// and with -o json that is the whole report.
func explainArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				if ee := (*exitError)(nil); errors.As(err, &ee) {
					return err // a command's own check already explains itself
				}
				return usageError("%s: %v; usage: %s", strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" "), err, c.UseLine())
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		explainArgs(sub)
	}
}

// newHelpCmd is `tagcast help [COMMAND...]`: cobra's own, except that an
// unknown topic is a usage error (exit 2, on stderr) as an unknown command
// is, not its usage on stdout with exit 0.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long: `Help provides help for any command in the application.
Simply type tagcast help [path to command] for full details.`,
		Args: cobra.ArbitraryArgs,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var completions []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					completions = append(completions, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return completions, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usageError("unknown help topic %q; see %s --help", strings.Join(args, " "), c.Root().Name())
			}
			if cmd.Context() == nil {
				cmd.SetContext(c.Context())
			}
			cmd.InitDefaultHelpFlag()    // its --help flag is listed
			cmd.InitDefaultVersionFlag() // and --version, where there is one
			return cmd.Help()
		},
	}
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			if g.output == "json" {
				return writeJSON(cmd.OutOrStdout(), struct {
					Version string `json:"version"`
					Go      string `json:"go"`
				}{v, runtime.Version()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tagcast %s\n", v)
			return nil
		},
	}
}
