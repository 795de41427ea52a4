package main

import "github.com/spf13/cobra"

// registerCommands adds every subcommand to root. Keep one line per command
// group so parallel work on separate commands does not collide.
func registerCommands(root *cobra.Command, g *globals) {
	_ = root
	_ = g
}
