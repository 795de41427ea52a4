package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/internal/hostboard"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/worker"
)

func newPushCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "push",
		Short: "validate or send one /push.json body",
		Args:  cobra.ArbitraryArgs,
		RunE:  requireSubcommand,
	}
	cmd.AddCommand(newPushValidateCmd(g), newPushSendCmd(g))
	return cmd
}

// pushValidateReport is `push validate --output json`.
type pushValidateReport struct {
	File     string               `json:"file"`
	Valid    bool                 `json:"valid"`
	Problems []pushapi.FieldError `json:"problems"`
}

func newPushValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "validate a /push.json body (JSON or YAML; - reads stdin)",
		Long: `Checks a /push.json body against every documented rule of the service and
prints each violation as "path: rule" (JSON paths such as audience.userid).
Unknown fields and values of the wrong type are violations too. One rule is
relaxed: audience.is_to_all may be left out, as tagcast reads it as false and
always writes it (a body another tool sends as it is must carry it). Exit 1
when the body is invalid, 0 and "valid" otherwise. No configuration is needed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, problems, err := g.readPushBody(args[0])
			switch {
			case err != nil && g.output == "json":
				// Unreadable, or not JSON/YAML: still a report on stdout,
				// as config check prints one, for the tools that read it.
				problems = []pushapi.FieldError{{Path: "(file)", Rule: err.Error()}}
			case err != nil:
				return &exitError{code: 1, err: err}
			case problems == nil:
				problems = []pushapi.FieldError{} // "problems": [], not null
			}
			report := pushValidateReport{File: args[0], Valid: len(problems) == 0, Problems: problems}
			out := cmd.OutOrStdout()
			if g.output == "json" {
				if err := writeJSON(out, report); err != nil {
					return err
				}
			} else if report.Valid {
				fmt.Fprintln(out, "valid")
			} else {
				for _, p := range problems {
					fmt.Fprintf(out, "%s: %s\n", p.Path, p.Rule)
				}
			}
			if !report.Valid {
				return &exitError{code: 1, err: fmt.Errorf("%s: invalid push body: %s", args[0], plural(len(problems), "problem"))}
			}
			return nil
		},
	}
}

// pusher sends one /push.json request. *pushapi.Client is one; `push send`
// sends through worker.GuardedPusher, the quota guard around one.
type pusher interface {
	Push(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error)
}

// sqliteBesideAnotherConfig refuses a relative SQLite path that names no
// file when the configuration file is in another directory: the path is
// read from the working directory, and push send there would create a
// store of its own, with an empty quota ledger and a guard lock of its
// own, and not count the pushes of the store its serve or worker use (an
// operator running it with the team's --config from a shell elsewhere).
// Without a configuration file, or beside it, a missing store is created,
// as on a first use.
func sqliteBesideAnotherConfig(cfg *config.Config) error {
	file := sqlstore.SQLiteFileOf(cfg.Database.URL)
	if file == "" || filepath.IsAbs(file) || cfg.File() == "" {
		return nil
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil
	}
	cfgDir, err := filepath.Abs(filepath.Dir(cfg.File()))
	if err != nil || cfgDir == wd {
		return nil
	}
	return fmt.Errorf("database.url: no SQLite database at %s (nothing created, nothing sent): the path is relative to the working directory, "+
		"not to the configuration file in %s; push send counts the app's quota in the store of the processes that send for it: "+
		"run it in their directory, or give database.url an absolute path", filepath.Join(wd, file), cfgDir)
}

// newAppPusher builds what `push send` sends through for app: the quota
// guard (on the configured Redis, or on an empty embedded one, in which case
// the guard rebuilds the app's windows from the store's ledger, as it must,
// and no process on another quota guard may work for the store meanwhile: lockGuard)
// around the app's client, with the push recorded in the store's ledger.
// release closes the store and Redis, in reverse order of opening.
func newAppPusher(ctx context.Context, cfg *config.Config, app *config.App) (p pusher, release func(), err error) {
	if err := sqliteBesideAnotherConfig(cfg); err != nil {
		return nil, nil, err
	}
	d := &deps{cfg: cfg, log: zerolog.Nop(), clock: wallClock{}}
	closeAll := func() { _ = d.close() }
	defer func() {
		if err != nil {
			closeAll() // not release: every error return sets it to nil
		}
	}()
	if err := d.buildRedis(ctx, false); err != nil {
		return nil, nil, err
	}
	if err := d.buildStore(ctx); err != nil {
		return nil, nil, err
	}
	if err := d.buildGuard(); err != nil {
		return nil, nil, err
	}
	if err := d.forgetShared(ctx); err != nil {
		return nil, nil, err
	}
	cc := app.ClientConfig()
	cc.Board = hostboard.New(d.promptRedis, app.Name) // a shared Redis: the workers' active host
	client, err := pushapi.NewClient(cc)
	if err != nil {
		return nil, nil, fmt.Errorf("app %s: %w", app.Name, err)
	}
	d.onClose("push client", func() error { client.CloseIdleConnections(); return nil })
	return worker.GuardedPusher{Guard: d.guard, Ledger: d.store, Pusher: client, App: app.Name}, closeAll, nil
}

// noRoomReport prints when app's quota reopens, for a push refused by the
// guard (nothing was sent, nothing recorded).
func noRoomReport(nr *quota.NoRoomError, now time.Time) error {
	why := fmt.Sprintf("the %s window is full", nr.By)
	if nr.By == quota.ConstraintBlocked {
		why = "the app is held by the service's answer (a 429/1008 rate limit, or a Retry-After on a 5xx, 1000 or 1050)"
	}
	return fmt.Errorf("app %s: no quota left: %s (pushes counted: %d in the hour window, %d in the day window); nothing sent; next opening %s (in %s)",
		nr.App, why, nr.HourUsed, nr.DayUsed, nr.OpensAt.Local().Format(time.DateTime+" MST"), nr.OpensAt.Sub(now).Round(time.Second))
}

// pushSendReport is `push send --output json`, for a send that succeeded or
// failed.
type pushSendReport struct {
	App            string          `json:"app"`
	Sent           bool            `json:"sent"`
	Outcome        pushapi.Outcome `json:"outcome"`
	ID             string          `json:"id,omitempty"`
	MessageUID     string          `json:"messageUID,omitempty"`
	Host           string          `json:"host,omitempty"`
	RequestID      string          `json:"requestId,omitempty"`
	HTTPStatus     int             `json:"httpStatus,omitempty"`
	Code           int             `json:"code,omitempty"`
	MayHaveReached bool            `json:"mayHaveReached,omitempty"`
	Error          string          `json:"error,omitempty"`
}

func newPushSendCmd(g *globals) *cobra.Command {
	var appName string
	cmd := &cobra.Command{
		Use:   "send --app NAME FILE",
		Short: "send one push now for a configured app",
		Long: `Validates the /push.json body in FILE (JSON or YAML; - reads stdin) and sends it
once, now, with the App Key of --app. Prints the push id and messageUID.
The call is never retried: when its outcome is unknown (a timeout after the
request was written) the service may have sent it; check before sending again,
every push costs quota.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, app, err := g.loadAppConfig(appName)
			if err != nil {
				return err
			}
			req, problems, err := g.readPushBody(args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", p.Path, p.Rule)
				}
				return &exitError{code: 1, err: &problemsError{msg: fmt.Sprintf("%s: invalid push body: %s; nothing sent", args[0], plural(len(problems), "problem")),
					ve: &pushapi.ValidationError{Problems: problems}}}
			}
			p, release, err := newAppPusher(cmd.Context(), cfg, app)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer release()

			res, sendErr := p.Push(cmd.Context(), req)
			if nr := (*quota.NoRoomError)(nil); errors.As(sendErr, &nr) {
				err := noRoomReport(nr, time.Now())
				if g.output == "json" {
					// The guard refused, as the service would have: the same
					// class (send again when the window reopens).
					if werr := writeJSON(cmd.OutOrStdout(), pushSendReport{App: app.Name, Outcome: pushapi.OutcomeRateLimited, Error: err.Error()}); werr != nil {
						return werr
					}
				}
				return &exitError{code: 1, err: fmt.Errorf("push send: %w", err)}
			}
			report := sendReport(app.Name, res, sendErr)
			out := cmd.OutOrStdout()
			var werr error
			if g.output == "json" {
				werr = writeJSON(out, report)
			} else if sendErr == nil {
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintf(tw, "app\t%s\nid\t%s\nmessageUID\t%s\nhost\t%s\nrequestId\t%s\n", app.Name, res.ID, res.MessageUID, res.Host, res.RequestID)
				werr = tw.Flush()
			}
			// A report that cannot be written does not hide the send's
			// result: "no space left on device" alone after a push that
			// went out invites a second one (found by a review).
			if sendErr != nil {
				err := fmt.Errorf("push send (app %s): %w%s", app.Name, sendErr, outcomeAdvice(report.Outcome, sendErr))
				if werr != nil {
					err = fmt.Errorf("%w (and the report could not be written: %w)", err, werr)
				}
				return &exitError{code: 1, err: err}
			}
			if werr != nil {
				return &exitError{code: 1, err: fmt.Errorf("push send (app %s): the push was SENT (id %s, messageUID %s): do not send it again; only the report could not be written: %w",
					app.Name, res.ID, res.MessageUID, werr)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&appName, "app", "", "the configured app (App Key) to send with")
	_ = cmd.MarkFlagRequired("app")
	return cmd
}

func sendReport(app string, res *pushapi.PushResponse, err error) pushSendReport {
	r := pushSendReport{App: app, Outcome: pushapi.Classify(err)}
	if nc := (*worker.NotCalledError)(nil); errors.As(err, &nc) {
		// Not a pushapi error, which Classify would call unknown: the
		// service was not called (Redis or the store failed first), so
		// nothing was sent and sending again is safe.
		r.Outcome = pushapi.OutcomeRetry
	}
	if err == nil {
		r.Sent = true
		if res != nil {
			r.ID, r.MessageUID, r.Host, r.RequestID = res.ID, res.MessageUID, res.Host, res.RequestID
		}
		return r
	}
	r.Error = err.Error()
	var pe *pushapi.Error
	if errors.As(err, &pe) {
		r.Host, r.RequestID, r.HTTPStatus, r.Code, r.MayHaveReached = pe.Host, pe.RequestID, pe.HTTPStatus, pe.Code, pe.MayHaveReached
	}
	return r
}

// outcomeAdvice tells the operator what a failed send means for them.
func outcomeAdvice(o pushapi.Outcome, err error) string {
	switch o {
	case pushapi.OutcomeUnknown:
		return "\n  outcome unknown: the service may have sent this push; check before sending it again (each push costs quota)"
	case pushapi.OutcomeRateLimited:
		return "\n  rate limited: the app's quota is used up; send again when its window reopens"
	case pushapi.OutcomeRetry:
		// An answered 5xx (but a 503) may follow a push: its quota slot is
		// kept, and "nothing was sent" would invite a second push.
		if pe := (*pushapi.Error)(nil); errors.As(err, &pe) && pe.MayHaveReached {
			return "\n  temporary failure: the service answered an error after it may have acted on the push; check before sending it again"
		}
		return "\n  temporary failure: nothing was sent; try again later"
	case pushapi.OutcomeFailed:
		return "\n  rejected by the service: fix the cause before sending again"
	}
	return ""
}

// readPushBody reads and decodes a /push.json body from path ("-": stdin).
// problems lists unknown fields, wrongly typed values and every violated rule
// of the service, with JSON paths; err is for unreadable or malformed input.
func (g *globals) readPushBody(path string) (req *pushapi.Request, problems []pushapi.FieldError, err error) {
	data, err := g.readInput(path)
	if err != nil {
		return nil, nil, err
	}
	req = &pushapi.Request{}
	problems, err = decodeBody(path, data, req)
	if err != nil {
		return nil, nil, err
	}
	if len(problems) > 0 {
		return nil, append(problems, rulesDespiteShape(path, data)...), nil
	}
	if verr := req.Validate(); verr != nil {
		var ve *pushapi.ValidationError
		if !errors.As(verr, &ve) {
			return nil, nil, fmt.Errorf("%s: %w", path, verr)
		}
		return req, ve.Problems, nil
	}
	return req, nil, nil
}

// rulesDespiteShape is what Validate says of a body with shape problems,
// read leniently (unknown fields dropped), so that one misspelt key does
// not hide the rest of the report. A wrongly typed value stops it: nil.
func rulesDespiteShape(path string, data []byte) []pushapi.FieldError {
	if isYAML(path, data) {
		converted, err := yamlToJSON(data)
		if err != nil {
			return nil
		}
		data = converted
	}
	var lenient pushapi.Request
	if json.Unmarshal(data, &lenient) != nil {
		return nil
	}
	var ve *pushapi.ValidationError
	if errors.As(lenient.Validate(), &ve) {
		return ve.Problems
	}
	return nil
}

// readInput reads a file, or stdin for "-".
func (g *globals) readInput(path string) ([]byte, error) {
	if path == "-" {
		if g.env.stdin == nil {
			return nil, errors.New("stdin: not available")
		}
		data, err := io.ReadAll(g.env.stdin)
		if err != nil {
			return nil, fmt.Errorf("stdin: %w", err)
		}
		return data, nil
	}
	return os.ReadFile(path)
}

// decodeBody decodes a JSON or YAML document (by extension; otherwise JSON
// when it starts with '{' or '[') into v, a pointer to one of pushapi's
// request types, with pushapi.DecodeJSON: problems lists every unknown field
// (with a "did you mean" hint) and wrongly typed value, with JSON paths
// ("(document)" for the whole document); err is for unreadable or malformed
// documents, with the file's line:column for JSON.
func decodeBody(name string, data []byte, v any) ([]pushapi.FieldError, error) {
	yamlDoc := isYAML(name, data)
	if yamlDoc {
		converted, err := yamlToJSON(data) // refuses a key given twice
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		data = converted
	}
	err := pushapi.DecodeJSON(data, v)
	// A JSON key given twice is a problem: DecodeJSON keeps the last one,
	// and `"tags":["vip"],"tags":[]` would clear what was meant to be set.
	// (Checked once the document parsed: its nesting is bounded then.)
	var dup []pushapi.FieldError
	var se *pushapi.SyntaxError
	var ve *pushapi.ValidationError
	if !yamlDoc && (err == nil || errors.As(err, &ve)) {
		if path, ok := campaign.DuplicateKey(data); ok {
			dup = []pushapi.FieldError{{Path: path, Rule: "given more than once", Code: pushapi.CodeParam}}
		}
		// encoding/json reads a lone surrogate escape as U+FFFD: the
		// service would get other text than the file's.
		if path, ok := pushapi.LoneSurrogate(data); ok {
			dup = append(dup, pushapi.FieldError{Path: path, Rule: pushapi.LoneSurrogateRule, Code: pushapi.CodeParam})
		}
	}
	switch {
	case err == nil:
		return dup, nil
	case errors.As(err, &se):
		return nil, fmt.Errorf("%s:%d:%d: %s", name, se.Line, se.Column, se.Msg)
	case errors.As(err, &ve):
		problems := append(dup, ve.Problems...)
		for i := range problems {
			if problems[i].Path == "" {
				problems[i].Path = "(document)"
			}
		}
		return problems, nil
	}
	return nil, fmt.Errorf("%s: %w", name, err)
}

func isYAML(name string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return true
	case ".json":
		return false
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	return len(trimmed) > 0 && trimmed[0] != '{' && trimmed[0] != '['
}

// yamlToJSON reads a YAML body as campaign files are read: timestamps as
// written, a number YAML cannot keep exactly refused (it would be sent
// rounded), one document only.
func yamlToJSON(data []byte) ([]byte, error) {
	out, err := campaign.YAMLToJSON(data)
	var typeErr *json.UnsupportedTypeError
	var valueErr *json.UnsupportedValueError
	switch {
	case errors.As(err, &typeErr):
		return nil, fmt.Errorf("YAML document cannot be read as JSON: %w", err)
	case errors.As(err, &valueErr):
		return nil, fmt.Errorf("YAML document cannot be read as JSON (.inf and .nan are not JSON numbers): %w", err)
	case err != nil:
		return nil, err // YAML's own error, or a number it cannot keep: its path and rule
	}
	return out, nil
}
