package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/scheduler"
)

// adminClient is the admin API client of the configuration: admin.server,
// with the token from the variable named by admin.token_env.
func (g *globals) adminClient() (*admin.Client, error) {
	cfg, err := g.loadClientConfig()
	if err != nil {
		return nil, err
	}
	if cfg.Admin.Token.IsZero() {
		return nil, &exitError{code: 1, err: fmt.Errorf("no admin token: set %s (the variable named by admin.token_env) to one of the server's tokens", cfg.ShownEnv(cfg.Admin.TokenEnv))}
	}
	c, err := admin.NewClient(cfg.Admin.Server, cfg.Admin.Token.Reveal(), nil)
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	return c, nil
}

// adminFailed turns an admin API error into exit 1, printing every problem
// of an invalid request on stderr, one "path: rule" a line.
// apiFailure is a refusal of the admin API as the CLI words it, keeping
// the API's answer for --output json (errorReport).
type apiFailure struct {
	msg string
	ae  *admin.APIError
}

func (e *apiFailure) Error() string { return e.msg }
func (e *apiFailure) Unwrap() error { return e.ae }

func adminFailed(cmd *cobra.Command, what string, err error) error {
	var (
		ae *admin.APIError
		ue *admin.UnreachableError
	)
	switch {
	case errors.As(err, &ae) && len(ae.Problems) > 0:
		for _, p := range ae.Problems {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s\n", p)
		}
		return &exitError{code: 1, err: &apiFailure{msg: fmt.Sprintf("%s: %s (%s)", what, ae.ErrorBody.Error, plural(len(ae.Problems), "problem")), ae: ae}}
	case errors.As(err, &ae) && ae.Status == 401:
		return &exitError{code: 1, err: &apiFailure{msg: fmt.Sprintf("%s: the admin API refused the token (HTTP 401): check the variable named by admin.token_env", what), ae: ae}}
	case errors.As(err, &ae):
		msg := fmt.Sprintf("%s: %s (HTTP %d)", what, ae.ErrorBody.Error, ae.Status)
		if ae.ServiceCode != 0 {
			msg += fmt.Sprintf(" (service code %d)", ae.ServiceCode)
		}
		return &exitError{code: 1, err: &apiFailure{msg: msg, ae: ae}}
	case errors.As(err, &ue):
		return &exitError{code: 1, err: fmt.Errorf("%s: %w", what, ue)}
	default:
		return &exitError{code: 1, err: fmt.Errorf("%s: %w", what, err)}
	}
}

// parseID reads a positive campaign or run id argument.
func parseID(what, arg string) (int64, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id < 1 {
		return 0, usageError("%s: %q is not a %s id (a positive integer)", what, arg, what)
	}
	return id, nil
}

func newCampaignCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "campaign",
		Short: "create, list, show, pause, resume, cancel and retry campaigns (through the admin API)",
		Long: `Talks to the admin API at admin.server with the token in the variable named
by admin.token_env (default TAGCAST_ADMIN_TOKEN).`,
		Args: cobra.ArbitraryArgs,
		RunE: requireSubcommand,
	}
	cmd.AddCommand(newCampaignCreateCmd(g), newCampaignListCmd(g), newCampaignShowCmd(g),
		newCampaignOpCmd(g, "pause", "stop a campaign's fires"),
		newCampaignOpCmd(g, "resume", "re-activate a paused campaign (its missed-fire policy applies to what fell in the pause)"),
		newCampaignOpCmd(g, "cancel", "cancel a campaign: no more fires, unsent sends cancelled"),
		newCampaignRetryCmd(g))
	return cmd
}

// readInput reads a file, or stdin for "-".
func (g *globals) readCampaignFile(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(g.env.stdin)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("campaign file: %w", err)
	}
	return data, nil
}

// newIdempotencyKey is a random key for one `campaign create` or `campaign
// retry` (128 bits, 32 hex characters).
func newIdempotencyKey() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate an idempotency key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// createdCampaign is `campaign create --output json`: the campaign, whether
// it already existed (created before under the same key), and the key.
type createdCampaign struct {
	campaign.Campaign
	Replayed       bool   `json:"replayed"`
	IdempotencyKey string `json:"idempotency_key"`
}

// unknownOutcome is a create or retry whose outcome is unknown (its answer
// was lost, or a 5xx): the error, and how to send it again without doing
// it twice.
type unknownOutcome struct {
	err  error
	hint string
	key  string // the idempotency key to send it again with
}

func (e *unknownOutcome) Error() string { return e.err.Error() + "\n" + e.hint }
func (e *unknownOutcome) Unwrap() error { return e.err }

// outcomeUnknownFailed is adminFailed for a call sent under an idempotency
// key: when its outcome is unknown (admin.OutcomeUnknown) the error says
// so, not "unreachable", with hint, which says how to send it again under
// the key.
func outcomeUnknownFailed(cmd *cobra.Command, what, key string, err error, hint string) error {
	failed := adminFailed(cmd, what, err)
	if !admin.OutcomeUnknown(err) {
		return failed
	}
	var ue *admin.UnreachableError
	if errors.As(err, &ue) {
		// The request may have gone out: not "unreachable".
		failed = &exitError{code: 1, err: fmt.Errorf("%s: no answer from the admin API at %s: %w", what, ue.URL, ue.Err)}
	}
	var ee *exitError
	if errors.As(failed, &ee) {
		ee.err = &unknownOutcome{err: ee.err, hint: hint, key: key}
	}
	return failed
}

func newCampaignCreateCmd(g *globals) *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "create FILE [--idempotency-key KEY]",
		Short: "create a campaign from a campaign file (YAML or JSON; - reads stdin)",
		Long: `Creates a campaign from a campaign file through the admin API.

Every create is sent with an Idempotency-Key: --idempotency-key KEY, or a
random one. When the outcome is unknown (a timeout or a lost connection
after the request went out, or a 5xx), the campaign may have been created:
the error names the key, and running the same command again with
--idempotency-key KEY creates the campaign at most once (if it was created,
it prints that it already existed). The same key with another file is
refused. Without the key, a second run is a second campaign, and both fire.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("idempotency-key") {
				if err := campaign.CheckIdempotencyKey(key); err != nil {
					return usageError("--idempotency-key: %v", err)
				}
			}
			data, err := g.readCampaignFile(args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			client, err := g.adminClient()
			if err != nil {
				return err
			}
			if key == "" {
				if key, err = newIdempotencyKey(); err != nil {
					return &exitError{code: 1, err: err}
				}
			}
			ct := "application/yaml"
			if strings.EqualFold(filepath.Ext(args[0]), ".json") {
				ct = "application/json"
			}
			res, err := client.CreateCampaignWith(cmd.Context(), data, ct, admin.CreateOptions{IdempotencyKey: key})
			if err != nil {
				return outcomeUnknownFailed(cmd, "campaign create "+args[0], key, err, fmt.Sprintf(
					"the campaign may have been created: to create it at most once, run the same command again with --idempotency-key %s "+
						"(it then prints the campaign if it exists); without the key a second run is a second campaign, and both fire", key))
			}
			c := res.Campaign
			if g.output == "json" {
				return writeJSON(cmd.OutOrStdout(), createdCampaign{Campaign: c, Replayed: res.Replayed, IdempotencyKey: key})
			}
			if res.Replayed {
				fmt.Fprintf(cmd.OutOrStdout(), "campaign %d already existed (created %s under idempotency key %s; nothing created): %s (app %s, %s), status %s, next run %s\n",
					c.ID, c.CreatedAt.Format(time.RFC3339), key, c.Name, c.App, describeSchedule(c.Schedule), c.Status, timeOrDash(c.NextRunAt))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "campaign %d created: %s (app %s, %s), next run %s\n", c.ID, c.Name, c.App, describeSchedule(c.Schedule), timeOrDash(c.NextRunAt))
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "idempotency-key", "", "the create's Idempotency-Key (1 to 255 visible ASCII characters; default: a random one): rerun a create whose outcome is unknown with the key its error names")
	return cmd
}

func newCampaignListCmd(g *globals) *cobra.Command {
	var (
		q      admin.ListQuery
		status string
	)
	cmd := &cobra.Command{
		Use:   "list [--app A] [--status S] [--name SUBSTRING] [--after ID] [--limit N]",
		Short: "list campaigns, oldest first, a page at a time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status != "" {
				q.Status = campaign.CampaignStatus(status)
				if !campaign.Valid(q.Status) {
					return usageError("--status: must be one of %s, got %q", statusNames(), status)
				}
			}
			if (cmd.Flags().Changed("limit") && q.Limit < 1) || q.Limit < 0 || q.Limit > admin.MaxListLimit {
				return usageError("--limit: must be from 1 to %d, got %d", admin.MaxListLimit, q.Limit)
			}
			if q.After < 0 {
				return usageError("--after: must be a campaign id, got %d", q.After)
			}
			client, err := g.adminClient()
			if err != nil {
				return err
			}
			page, err := client.ListCampaigns(cmd.Context(), q)
			if err != nil {
				return adminFailed(cmd, "campaign list", err)
			}
			if g.output == "json" {
				return writeJSON(cmd.OutOrStdout(), page)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tAPP\tNAME\tSTATUS\tSCHEDULE\tNEXT RUN")
			for _, c := range page.Campaigns {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.App, c.Name, c.Status, describeSchedule(c.Schedule), timeOrDash(c.NextRunAt))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if page.NextAfter != 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "more: --after %d\n", page.NextAfter)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.App, "app", "", "only campaigns of this app")
	f.StringVar(&status, "status", "", "only campaigns in this status: "+statusNames())
	f.StringVar(&q.Name, "name", "", "only campaigns whose name contains this")
	f.Int64Var(&q.After, "after", 0, "page cursor: campaigns with an id above this (from the previous page's \"more\")")
	f.IntVar(&q.Limit, "limit", 0, fmt.Sprintf("page size (default %d, at most %d)", admin.DefaultListLimit, admin.MaxListLimit))
	return cmd
}

func statusNames() string {
	var names []string
	for _, s := range campaign.Statuses[campaign.CampaignStatus]() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// describeSchedule is a one-line summary: "at 2026-12-01T01:00:00Z",
// "cron 0 9 * * * (Asia/Shanghai)", "now".
func describeSchedule(s campaign.Schedule) string {
	var out string
	switch s.Kind() {
	case "at":
		out = "at " + s.At.Format(time.RFC3339)
	case "cron":
		out = "cron " + s.Cron
		if s.Timezone != "" {
			out += " (" + s.Timezone + ")"
		}
	default:
		out = "now"
	}
	return out
}

func timeOrDash(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// defaultShownRuns is how many of a campaign's newest runs `campaign show`
// prints.
const defaultShownRuns = 20

func newCampaignShowCmd(g *globals) *cobra.Command {
	var (
		runs   int
		before int64
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "show ID [--runs N] [--before RUN] [--all]",
		Short: "show a campaign, its run counts and its newest runs with their sends (status, attempts, code, push id, messageUID)",
		Long: fmt.Sprintf(`Shows the campaign, how many runs it has in each status, and its newest
runs (--runs, default %d, at most %d; fewer when their sends' bodies would
pass %d MiB), newest first, each with its sends.
When older runs remain it prints "more: --before RUN": run it again with
that flag for the next page. --all reads every run, a page of --runs (default
%d) at a time, into one answer: a campaign firing every minute has 525,000
runs a year, so use it with care. With --output json and neither --runs nor
--before, every run is read, as with --all.`, defaultShownRuns, campaign.MaxRunsLimit, campaign.MaxRunsPageBytes>>20, campaign.MaxRunsLimit),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("campaign", args[0])
			if err != nil {
				return err
			}
			if runs < 1 || runs > campaign.MaxRunsLimit {
				return usageError("--runs: must be from 1 to %d, got %d", campaign.MaxRunsLimit, runs)
			}
			if cmd.Flags().Changed("before") && before < 1 {
				return usageError("--before: must be a run id (a positive integer), got %d", before)
			}
			if all && before != 0 {
				return usageError("--all reads every run: it takes no --before")
			}
			// The JSON answer is every run and send, as the design has it,
			// unless a page is asked for.
			if g.output == "json" && !cmd.Flags().Changed("runs") && !cmd.Flags().Changed("before") {
				all = true
			}
			client, err := g.adminClient()
			if err != nil {
				return err
			}
			var d campaign.Detail
			if all {
				pageSize := campaign.MaxRunsLimit
				if cmd.Flags().Changed("runs") {
					pageSize = runs
				}
				d, err = client.GetCampaignAll(cmd.Context(), id, pageSize)
			} else {
				d, err = client.GetCampaignPage(cmd.Context(), id, campaign.RunsQuery{Limit: runs, Before: before})
			}
			if err != nil {
				return adminFailed(cmd, "campaign show "+args[0], err)
			}
			if g.output == "json" {
				return writeJSON(cmd.OutOrStdout(), d)
			}
			return printDetail(cmd.OutOrStdout(), d)
		},
	}
	f := cmd.Flags()
	f.IntVar(&runs, "runs", defaultShownRuns, fmt.Sprintf("how many of the newest runs to show (at most %d; with --all, the page size)", campaign.MaxRunsLimit))
	f.Int64Var(&before, "before", 0, "page cursor: runs older than this run id (from the previous page's \"more\")")
	f.BoolVar(&all, "all", false, "show every run, reading them a page at a time")
	return cmd
}

// describeCounts is "90000 runs: 89990 done, 10 failed", the statuses in
// state-machine order, zero counts left out.
func describeCounts(counts map[campaign.RunStatus]int) string {
	total := 0
	var parts []string
	for _, st := range campaign.Statuses[campaign.RunStatus]() {
		if n := counts[st]; n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	if total == 0 {
		return "none"
	}
	return plural(total, "run") + ": " + strings.Join(parts, ", ")
}

func printDetail(w io.Writer, d campaign.Detail) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "campaign\t%d\n", d.ID)
	fmt.Fprintf(tw, "name\t%s\n", d.Name)
	fmt.Fprintf(tw, "app\t%s\n", d.App)
	fmt.Fprintf(tw, "status\t%s\n", d.Status)
	fmt.Fprintf(tw, "schedule\t%s (missed: %s", describeSchedule(d.Schedule), d.Schedule.Missed)
	if d.Schedule.DeliverWithin > 0 {
		fmt.Fprintf(tw, ", deliver within %s", d.Schedule.DeliverWithin)
	}
	fmt.Fprintln(tw, ")")
	fmt.Fprintf(tw, "next run\t%s\n", timeOrDash(d.NextRunAt))
	fmt.Fprintf(tw, "created\t%s\n", d.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "runs\t%s\n", describeCounts(d.RunCounts))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.Runs) == 0 {
		if d.RunCounts == nil || describeCounts(d.RunCounts) == "none" {
			fmt.Fprintln(w, "\nno runs yet")
		} else {
			fmt.Fprintln(w, "\nno older runs")
		}
		return nil
	}
	fmt.Fprintf(w, "\nRUNS (%s, newest first)\n", plural(len(d.Runs), "run"))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSCHEDULED FOR\tSTATUS\tSENDS\tRETRIES\tFINISHED\tERROR")
	for _, r := range d.Runs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\n", r.ID, r.ScheduledFor.Format(time.RFC3339), r.Status, len(r.Sends), r.Retries, timeOrDash(r.FinishedAt), orDash(r.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nSENDS")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSEND\tSTATUS\tATTEMPTS\tCODE\tPUSH ID\tMESSAGE UID\tLAST ATTEMPT\tMESSAGE")
	for _, r := range d.Runs {
		for _, s := range r.Sends {
			code := "-"
			if s.LastCode != 0 {
				code = strconv.Itoa(s.LastCode)
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, s.ID, s.Status, s.Attempts, code, orDash(s.PushID), orDash(s.MessageUID), timeOrDash(s.SentAt), orDash(s.LastMessage))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if d.RunsNext != 0 {
		fmt.Fprintf(w, "more: --before %d\n", d.RunsNext)
	}
	return nil
}

func newCampaignOpCmd(g *globals, op, short string) *cobra.Command {
	return &cobra.Command{
		Use:   op + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("campaign", args[0])
			if err != nil {
				return err
			}
			client, err := g.adminClient()
			if err != nil {
				return err
			}
			var (
				c    campaign.Campaign
				out  any    // the -o json answer
				note string // what a cancel cancelled
			)
			switch op {
			case "pause":
				c, err = client.PauseCampaign(cmd.Context(), id)
				out = c
			case "resume":
				c, err = client.ResumeCampaign(cmd.Context(), id)
				out = c
			default:
				var cc campaign.Cancellation
				cc, err = client.CancelCampaign(cmd.Context(), id)
				c, out, note = cc.Campaign, cc, cancelledNote(cc)
			}
			if err != nil {
				return adminFailed(cmd, "campaign "+op+" "+args[0], err)
			}
			if g.output == "json" {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "campaign %d (%s): %s, next run %s%s%s\n", c.ID, c.Name, c.Status, timeOrDash(c.NextRunAt), missedNote(c), note)
			return nil
		},
	}
}

// cancelledNote says what a cancel did: the unfinished runs and unsent
// sends it cancelled (a send in flight is not one: its outcome is recorded).
func cancelledNote(cc campaign.Cancellation) string {
	return fmt.Sprintf("; %s and %s cancelled", plural(cc.CancelledRuns, "run"), plural(cc.CancelledSends, "unsent send"))
}

// missedNote explains an active campaign's next run that was already past
// when it was changed (resumed after a pause that spanned it): the stored
// instant is kept, and the scheduler decides. A fire it claims more than
// its missed_after late (scheduler.DefaultMissedAfter unless configured)
// is missed, and the missed-fire policy says what becomes of it; one claimed
// sooner is simply late and fires, so no note is given under that.
func missedNote(c campaign.Campaign) string {
	if c.Status != campaign.CampaignActive || c.NextRunAt == nil || !c.NextRunAt.Before(c.UpdatedAt.Add(-scheduler.DefaultMissedAfter)) {
		return ""
	}
	const missed = "missed while paused: a fire claimed more than the scheduler's missed_after (default 1m) late is missed; "
	oneShot := c.Schedule.Cron == ""
	switch {
	case c.Schedule.Missed == campaign.MissedSkip && oneShot:
		return " (" + missed + "missed: skip drops it, and this one-shot campaign then never fires)"
	case c.Schedule.Missed == campaign.MissedSkip:
		return " (" + missed + "missed: skip drops it, and the campaign fires at its next future time)"
	}
	if oneShot {
		return fmt.Sprintf(" (%smissed: %s fires it once, late; its run ends expired if it is older than deliver_within)", missed, c.Schedule.Missed)
	}
	return fmt.Sprintf(" (%smissed: %s fires the latest missed occurrence once, late, unless the next one is due within missed_after; "+
		"its run ends expired if it is older than deliver_within)", missed, c.Schedule.Missed)
}

func newCampaignRetryCmd(g *globals) *cobra.Command {
	var (
		unknown bool
		runID   int64
		key     string
	)
	cmd := &cobra.Command{
		Use:   "retry ID [--unknown] [--run RUN] [--idempotency-key KEY]",
		Short: "re-send the failed and expired sends of a campaign's settled runs (--unknown: also the unknown ones)",
		Long: `Re-opens every settled run of campaign ID that has failed or expired sends
and sends them again. Unknown sends (the service may already have delivered
them) are re-sent only with --unknown. --run limits the retry to one run of
the campaign.

Every retry is sent with an Idempotency-Key: --idempotency-key KEY, or a
random one. When the outcome is unknown (a timeout or a lost connection
after the request went out, or a 5xx), the retry may have re-opened runs,
or some of them: the error names the key, and running the same command
again with --idempotency-key KEY finishes the retry without re-opening a
run it re-opened (one that ended unknown again is not pushed a second
time); those runs are listed as re-opened earlier. Without the key, a
second run is a second retry.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("campaign", args[0])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("run") && runID < 1 {
				return usageError("--run: must be a run id (a positive integer), got %d", runID)
			}
			if cmd.Flags().Changed("idempotency-key") {
				if err := campaign.CheckIdempotencyKey(key); err != nil {
					return usageError("--idempotency-key: %v", err)
				}
			}
			client, err := g.adminClient()
			if err != nil {
				return err
			}
			if key == "" {
				if key, err = newIdempotencyKey(); err != nil {
					return &exitError{code: 1, err: err}
				}
			}
			opts := admin.RetryOptions{Unknown: unknown, IdempotencyKey: key}
			what := "campaign retry " + args[0]
			var res admin.RetryResult
			if runID > 0 {
				what = fmt.Sprintf("campaign retry %s --run %d", args[0], runID)
				// The one run, not the campaign's runs: a campaign may have
				// hundreds of thousands.
				if _, err := client.GetRun(cmd.Context(), id, runID); err != nil {
					var ae *admin.APIError
					if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
						return &exitError{code: 1, err: fmt.Errorf("%s: run %d is not a run of campaign %d (%s)", what, runID, id, ae.ErrorBody.Error)}
					}
					return adminFailed(cmd, what, err)
				}
				res, err = client.RetryRunWith(cmd.Context(), runID, opts)
				res.CampaignID = id
			} else {
				res, err = client.RetryCampaignWith(cmd.Context(), id, opts)
			}
			if err != nil {
				return outcomeUnknownFailed(cmd, what, key, err, fmt.Sprintf(
					"the retry may have re-opened runs: to finish it without re-sending what it re-opened, run the same command again with --idempotency-key %s; "+
						"without the key a second run is a second retry, which re-sends again what the first re-opened and has failed%s since", key, unknownSince(unknown)))
			}
			// Runs the retry should have re-opened and did not: the
			// operation failed in part (exit 1), and what it did re-open
			// is still said.
			var incomplete error
			if res.Incomplete {
				incomplete = &exitError{code: 1, err: fmt.Errorf("%s: some runs were not retried (see the warnings); run the same command again with --idempotency-key %s for them", what, key)}
			}
			if g.output == "json" {
				if err := writeJSON(cmd.OutOrStdout(), retriedCampaign{RetryResult: res, IdempotencyKey: key}); err != nil {
					return err
				}
				return incomplete
			}
			// What this request re-opened will be sent; what the key
			// re-opened earlier may have been sent, or failed again, since:
			// only `campaign show` says.
			var fresh, freshSends, earlier int
			for _, r := range res.Runs {
				if r.Earlier {
					earlier++
					fmt.Fprintf(cmd.OutOrStdout(), "run %d: %s re-opened earlier under idempotency key %s (not re-opened again)\n", r.RunID, plural(r.Reset, "send"), key)
					continue
				}
				fresh++
				freshSends += r.Reset
				fmt.Fprintf(cmd.OutOrStdout(), "run %d: %s reset for sending\n", r.RunID, plural(r.Reset, "send"))
			}
			// --unknown re-sends what the service may have delivered: said,
			// as the JSON's "unknown" says it.
			again := "will be sent again"
			if res.Unknown && freshSends > 0 {
				again += ", including unknown sends, which may already have been delivered"
			}
			switch {
			case earlier == 0:
				fmt.Fprintf(cmd.OutOrStdout(), "campaign %d: %s in %s %s\n", id, plural(freshSends, "send"), plural(fresh, "run"), again)
			case fresh == 0:
				fmt.Fprintf(cmd.OutOrStdout(), "campaign %d: nothing more re-opened; this retry re-opened %s earlier (not re-opened again: `tagcast campaign show %d` says what became of them)\n",
					id, plural(earlier, "run"), id)
			default:
				fmt.Fprintf(cmd.OutOrStdout(), "campaign %d: %s in %s %s; this retry re-opened %s more earlier (not re-opened again: `tagcast campaign show %d` says what became of them)\n",
					id, plural(freshSends, "send"), plural(fresh, "run"), again, plural(earlier, "run"), id)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			return incomplete
		},
	}
	cmd.Flags().BoolVar(&unknown, "unknown", false, "also re-send unknown sends (they may already have been delivered)")
	cmd.Flags().Int64Var(&runID, "run", 0, "retry only this run of the campaign")
	cmd.Flags().StringVar(&key, "idempotency-key", "", "the retry's Idempotency-Key (1 to 255 visible ASCII characters; default: a random one): rerun a retry whose outcome is unknown with the key its error names")
	return cmd
}

// retriedCampaign is `campaign retry --output json`: what the retry
// re-opened, and its key.
type retriedCampaign struct {
	admin.RetryResult
	IdempotencyKey string `json:"idempotency_key"`
}

func unknownSince(unknown bool) string {
	if unknown {
		return " or ended unknown"
	}
	return ""
}
