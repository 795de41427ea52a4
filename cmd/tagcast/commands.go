package main

import "github.com/spf13/cobra"

// registerCommands adds every subcommand to root. Keep one line per command
// group so parallel work on separate commands does not collide.
func registerCommands(root *cobra.Command, g *globals) {
	root.AddCommand(newConfigCmd(g))
	root.AddCommand(newPushCmd(g))
	root.AddCommand(newTagsCmd(g))
	root.AddCommand(newCampaignCmd(g))
	root.AddCommand(newQuotaCmd(g))
	root.AddCommand(newEmulatorCmd(g))
	root.AddCommand(newDemoCmd(g))
	root.AddCommand(newMigrateCmd(g))
	root.AddCommand(newServeCmd(g))
	root.AddCommand(newWorkerCmd(g))
	root.AddCommand(newSchedulerCmd(g))
	root.AddCommand(newAPICmd(g))
	root.AddCommand(newBenchCmd(g))
}
