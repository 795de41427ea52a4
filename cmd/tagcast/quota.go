package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/quota"
)

func newQuotaCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "the push quota of each app (through the admin API)",
		Args:  cobra.ArbitraryArgs,
		RunE:  requireSubcommand,
	}
	cmd.AddCommand(newQuotaStatusCmd(g), newQuotaUnblockCmd(g))
	return cmd
}

// appQuota runs one app's quota call (status, unblock) for --app name: a
// name that cannot be an app's, or one the server does not serve, is a
// usage error naming --app.
func appQuota[T any](cmd *cobra.Command, name, what string, call func() (T, error)) (T, error) {
	var zero T
	if !config.ValidAppName(name) {
		return zero, usageError("--app %q: not an app name (%s)", name, config.AppNameRule)
	}
	out, err := call()
	var ae *admin.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound && strings.Contains(ae.ErrorBody.Error, "not configured") {
		// A name the server does not serve is a usage error, as --app is
		// for the commands that read the config. (Any other 404, a wrong
		// admin URL say, is not the name's.)
		return zero, usageError("--app %q: %s (HTTP 404)", name, ae.ErrorBody.Error)
	}
	if err != nil {
		return zero, adminFailed(cmd, what+" --app "+name, err)
	}
	return out, nil
}

func newQuotaUnblockCmd(g *globals) *cobra.Command {
	var appName string
	cmd := &cobra.Command{
		Use:   "unblock --app NAME",
		Short: "lift an app's block (after a 429/1008 or a 5xx's Retry-After) and show its quota",
		Long: `Lifts the block the service's answer put on an app: a 429/1008 (until the next
window boundary) or a Retry-After on a 5xx, 1000 or 1050 (up to 25 hours). For a block
the service no longer means, a proxy's Retry-After of a day say. The windows' counts
are kept; if the service still refuses, its next answer blocks the app again.
The app's sends waiting to retry (a 5xx's Retry-After) may go at once, blocked or not.
Says whether a block was lifted (and until when it held the app) or the app
was not blocked, then shows the app's quota.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if appName == "" {
				return usageError("quota unblock: --app is required")
			}
			client, err := g.adminClient()
			if err != nil {
				return err
			}
			rep, err := appQuota(cmd, appName, "quota unblock", func() (admin.QuotaUnblock, error) { return client.UnblockQuota(cmd.Context(), appName) })
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			switch {
			case rep.Lifted == nil:
				// A server older than this CLI lifts the block and answers
				// the quota only.
				fmt.Fprintf(cmd.OutOrStdout(), "%s: block lifted if there was one (the server, older than this CLI, does not say)\n", rep.App)
			case *rep.Lifted:
				fmt.Fprintf(cmd.OutOrStdout(), "%s: block lifted (it held the app until %s)\n", rep.App, rep.LiftedBlockUntil.Format(time.RFC3339))
			default:
				fmt.Fprintf(cmd.OutOrStdout(), "%s: not blocked; nothing to lift (its sends waiting to retry may go now)\n", rep.App)
			}
			return printQuota(cmd.OutOrStdout(), []quota.Status{rep.Status})
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "the app to unblock")
	return cmd
}

func newQuotaStatusCmd(g *globals) *cobra.Command {
	var appName string
	cmd := &cobra.Command{
		Use:   "status [--app NAME]",
		Short: "windows, used, remaining and next opening of every app (or one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := g.adminClient()
			if err != nil {
				return err
			}
			var apps []quota.Status
			if appName != "" {
				st, err := appQuota(cmd, appName, "quota status", func() (quota.Status, error) { return client.AppQuota(cmd.Context(), appName) })
				if err != nil {
					return err
				}
				if g.output == "json" {
					return writeJSON(cmd.OutOrStdout(), st)
				}
				apps = []quota.Status{st}
			} else {
				rep, err := client.Quota(cmd.Context())
				if err != nil {
					return adminFailed(cmd, "quota status", err)
				}
				if g.output == "json" {
					return writeJSON(cmd.OutOrStdout(), rep)
				}
				apps = rep.Apps
			}
			return printQuota(cmd.OutOrStdout(), apps)
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "only this app")
	return cmd
}

func printQuota(w io.Writer, apps []quota.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tWINDOW\tMODE\tLIMIT\tUSED\tREMAINING\tNEXT OPENING\tTIMEZONE")
	for _, st := range apps {
		for _, win := range []struct {
			name string
			ws   quota.WindowStatus
		}{{"hour", st.Hour}, {"day", st.Day}} {
			// A block (a 429/1008, a 5xx's Retry-After) closes every window until it ends,
			// whatever the counts say.
			remaining, next := strconv.Itoa(win.ws.Remaining), win.ws.NextOpening
			if st.BlockedUntil.After(st.At) {
				remaining = "0 (blocked)"
				if st.BlockedUntil.After(next) {
					next = st.BlockedUntil
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", st.App, win.name, win.ws.Mode, win.ws.Limit, win.ws.Used, remaining, opening(next, st.At), st.Timezone)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, st := range apps {
		if !st.BlockedUntil.IsZero() {
			fmt.Fprintf(w, "%s: blocked by the service's answer (a 429/1008, or a 5xx's Retry-After) until %s\n", st.App, st.BlockedUntil.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "%s: next send possible %s\n", st.App, opening(st.NextOpening, st.At))
	}
	return nil
}

// opening is "now" when t is not after at, else t in RFC 3339.
func opening(t, at time.Time) string {
	if !t.After(at) {
		return "now"
	}
	return t.Format(time.RFC3339)
}
