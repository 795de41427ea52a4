package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/pushapi"
)

func newTagsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tags",
		Short: "set and read user tags (the audience of tag pushes)",
		Args:  cobra.ArbitraryArgs,
		RunE:  requireSubcommand,
	}
	cmd.AddCommand(newTagsSetCmd(g), newTagsBatchSetCmd(g), newTagsGetCmd(g))
	return cmd
}

// tagClient builds the pushapi client of the app named by --app. The tag
// APIs do not count against the push quota, so no guard is involved.
func (g *globals) tagClient(appName string) (*pushapi.Client, *config.App, error) {
	_, app, err := g.loadAppConfig(appName)
	if err != nil {
		return nil, nil, err
	}
	client, err := pushapi.NewClient(app.ClientConfig())
	if err != nil {
		return nil, nil, &exitError{code: 1, err: fmt.Errorf("app %s: %w", app.Name, err)}
	}
	return client, app, nil
}

// invalidRequest prints a request's problems, one "path: rule" a line, on
// stderr and returns the exit-1 error; other errors pass through as exit 1.
func invalidRequest(cmd *cobra.Command, what string, err error) error {
	var ve *pushapi.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", p.Path, p.Rule)
		}
		return &exitError{code: 1, err: &problemsError{msg: fmt.Sprintf("%s: %s; nothing sent", what, plural(len(ve.Problems), "problem")), ve: ve}}
	}
	return &exitError{code: 1, err: err}
}

// problemsError is a refused request: its message, and its problems for
// --output json (already printed, one a line, on stderr).
type problemsError struct {
	msg string
	ve  *pushapi.ValidationError
}

func (e *problemsError) Error() string { return e.msg }
func (e *problemsError) Unwrap() error { return e.ve }

// callFailed wraps a failed tag call with the app name and the advice.
func callFailed(what, app string, err error) error {
	return &exitError{code: 1, err: fmt.Errorf("%s (app %s): %w%s", what, app, err, tagAdvice(pushapi.Classify(err), err))}
}

// tagAdvice is outcomeAdvice for the tag APIs: they cost no push quota, a
// 429 is the batch endpoint's 10 calls a second, and setting a user's tags
// replaces them (and getting them changes nothing), so a call whose outcome
// is unknown is safe to run again.
func tagAdvice(o pushapi.Outcome, err error) string {
	switch o {
	case pushapi.OutcomeUnknown:
		return "\n  outcome unknown: the call may or may not have taken effect; running the command again is safe (tag calls read or replace tags, and are not counted as pushes)"
	case pushapi.OutcomeRateLimited:
		return "\n  rate limited: the tag APIs allow 10 batch calls a second per app; try again in a second"
	case pushapi.OutcomeRetry:
		// An answered 5xx (but an unavailable host's 503) may follow the
		// change: the old tags may be gone.
		if pe := (*pushapi.Error)(nil); errors.As(err, &pe) && pe.MayHaveReached {
			return "\n  temporary failure: the service answered an error after it may have applied the call; running the command again is safe"
		}
		return "\n  temporary failure: nothing was changed; try again later"
	case pushapi.OutcomeFailed:
		return "\n  rejected by the service: fix the cause before trying again"
	}
	return ""
}

// tagsSetReport is `tags set|batch-set --output json`.
type tagsSetReport struct {
	App     string   `json:"app"`
	UserIDs []string `json:"userIds"`
	Tags    []string `json:"tags"`
}

func (g *globals) printTagsSet(cmd *cobra.Command, r tagsSetReport) error {
	if g.output == "json" {
		return writeJSON(cmd.OutOrStdout(), r)
	}
	users := strings.Join(r.UserIDs, ", ")
	if len(r.UserIDs) > 5 {
		users = fmt.Sprintf("%d users", len(r.UserIDs))
	}
	if len(r.Tags) == 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "tags cleared for %s\n", users)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "tags of %s set to: %s\n", users, strings.Join(r.Tags, ", "))
	}
	return nil
}

func newTagsSetCmd(g *globals) *cobra.Command {
	var appName string
	cmd := &cobra.Command{
		Use:   "set --app NAME USER [TAG...]",
		Short: "replace all tags of one user (no TAG clears them)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("tags set: USER is required: tags set --app NAME USER [TAG...] (no TAG clears the user's tags)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			req := pushapi.SetUserTagsRequest{UserID: args[0], Tags: append([]string{}, args[1:]...)}
			if err := req.Validate(); err != nil {
				return invalidRequest(cmd, "tags set", err)
			}
			client, app, err := g.tagClient(appName)
			if err != nil {
				return err
			}
			if err := client.SetUserTags(cmd.Context(), req.UserID, req.Tags); err != nil {
				return callFailed("tags set", app.Name, err)
			}
			return g.printTagsSet(cmd, tagsSetReport{App: app.Name, UserIDs: []string{req.UserID}, Tags: req.Tags})
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "the configured app (App Key)")
	_ = cmd.MarkFlagRequired("app")
	return cmd
}

func newTagsBatchSetCmd(g *globals) *cobra.Command {
	var (
		appName     string
		users, tags []string
		file        string
	)
	cmd := &cobra.Command{
		Use:   "batch-set --app NAME (--users a,b --tags x,y | --file FILE)",
		Short: "replace the tags of up to 1000 users with the same tags",
		Long: `Replaces every listed user's tags with the given tags. --tags must be given
explicitly; --tags "" clears. --file reads {"userIds": [...], "tags": [...]}
as JSON or YAML (- reads stdin) instead of the flags; its tags are required
too ([] clears).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fileSet := cmd.Flags().Changed("file")
			usersSet, tagsSet := cmd.Flags().Changed("users"), cmd.Flags().Changed("tags")
			var req pushapi.BatchSetUserTagsRequest
			switch {
			case fileSet && (usersSet || tagsSet):
				return usageError("--file and --users/--tags are exclusive")
			case fileSet:
				data, err := g.readInput(file)
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				problems, err := decodeBody(file, data, &req)
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				if req.Tags == nil && (len(problems) == 0 || !keyGiven(file, data, "tags")) {
					// Absent or null is a mistake, not a wish to wipe every
					// listed user's tags (as the admin API says too). (With
					// other problems the decoding may have stopped before the
					// tags: they are missing only if the document lacks them.)
					problems = append(problems, pushapi.FieldError{Path: "tags", Rule: "required: the users' whole new tag list ([] clears it)", Code: pushapi.CodeParam})
				}
				if len(problems) > 0 {
					return invalidRequest(cmd, "tags batch-set "+file, &pushapi.ValidationError{Problems: problems})
				}
			case !usersSet || !tagsSet:
				return usageError("--users and --tags are required (--tags \"\" clears), or --file")
			default:
				// A blank tag item (--tags " ", --tags ,) is refused by
				// Validate, not dropped: dropped, it left [] and cleared
				// every listed user's tags (found by a review). --tags ""
				// alone is the empty list, the documented clear.
				req = pushapi.BatchSetUserTagsRequest{UserIDs: trimAll(users), Tags: trimEach(tags)}
			}
			if err := req.Validate(); err != nil {
				return invalidRequest(cmd, "tags batch-set", err)
			}
			client, app, err := g.tagClient(appName)
			if err != nil {
				return err
			}
			if err := client.BatchSetUserTags(cmd.Context(), req.UserIDs, req.Tags); err != nil {
				return callFailed("tags batch-set", app.Name, err)
			}
			return g.printTagsSet(cmd, tagsSetReport{App: app.Name, UserIDs: req.UserIDs, Tags: req.Tags})
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "the configured app (App Key)")
	cmd.Flags().StringSliceVar(&users, "users", nil, "user ids, comma-separated (repeatable)")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, `tags, comma-separated (repeatable); "" clears`)
	cmd.Flags().StringVar(&file, "file", "", `JSON or YAML file {"userIds": [...], "tags": [...]}`)
	_ = cmd.MarkFlagRequired("app")
	return cmd
}

// trimEach trims blanks around each item, keeping empty ones (for the
// checks to refuse).
func trimEach(items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = strings.TrimSpace(s)
	}
	return out
}

// trimAll trims blanks around each item and drops empty ones.
func trimAll(items []string) []string {
	out := []string{}
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func newTagsGetCmd(g *globals) *cobra.Command {
	var appName string
	cmd := &cobra.Command{
		Use:   "get --app NAME USER...",
		Short: "print the tags of up to 50 users",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pushapi.ValidateGetUserTags(args); err != nil {
				return invalidRequest(cmd, "tags get", err)
			}
			client, app, err := g.tagClient(appName)
			if err != nil {
				return err
			}
			got, err := client.GetUserTags(cmd.Context(), args)
			if err != nil {
				return callFailed("tags get", app.Name, err)
			}
			if g.output == "json" {
				users := make(map[string][]string, len(args))
				for _, u := range args {
					users[u] = append([]string{}, got[u]...)
				}
				return writeJSON(cmd.OutOrStdout(), map[string]any{"app": app.Name, "tags": users})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tTAGS")
			for _, u := range args {
				fmt.Fprintf(tw, "%s\t%s\n", u, strings.Join(got[u], ", "))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "the configured app (App Key)")
	_ = cmd.MarkFlagRequired("app")
	return cmd
}

// keyGiven reports whether the JSON or YAML document data (named name) has
// key at its top level (as encoding/json matches it: case aside) with a
// value other than null.
func keyGiven(name string, data []byte, key string) bool {
	if isYAML(name, data) {
		converted, err := yamlToJSON(data)
		if err != nil {
			return false
		}
		data = converted
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) != nil {
		return false
	}
	for k, v := range doc {
		if strings.EqualFold(k, key) && string(bytes.TrimSpace(v)) != "null" {
			return true
		}
	}
	return false
}
