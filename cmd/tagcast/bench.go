package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tagcast/tagcast/bench"
)

func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "benchmark figures (see BENCHMARKS.md; `make bench` runs the benchmarks)",
		Args:  cobra.ArbitraryArgs,
		RunE:  requireSubcommand,
	}
	cmd.AddCommand(newBenchReportCmd(g))
	return cmd
}

func newBenchReportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "report [FILE]",
		Short: "median, min and max of every metric in `go test -bench` output (FILE or stdin)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := cmd.InOrStdin()
			if len(args) == 1 {
				f, err := os.Open(args[0])
				if err != nil {
					return &exitError{code: 1, err: fmt.Errorf("bench report: %w", err)}
				}
				defer func() { _ = f.Close() }()
				in = f
			}
			results, err := bench.Parse(in)
			if g.output == "json" {
				if werr := writeJSON(cmd.OutOrStdout(), results); werr != nil {
					return werr
				}
			} else if werr := bench.Summarize(cmd.OutOrStdout(), results); werr != nil {
				return werr
			}
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("bench report: %w", err)}
			}
			if len(results) == 0 {
				return &exitError{code: 1, err: errors.New("bench report: no benchmark results in the input")}
			}
			return nil
		},
	}
}
