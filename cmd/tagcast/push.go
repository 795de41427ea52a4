package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/pushapi"
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
Unknown fields and values of the wrong type are violations too. Exit 1 when
the body is invalid, 0 and "valid" otherwise. No configuration is needed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, problems, err := g.readPushBody(args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
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

// pusher sends one /push.json request. *pushapi.Client is one; the quota
// guard (issue 5) is a pusher wrapping one, so `push send` goes through it
// without other changes.
type pusher interface {
	Push(ctx context.Context, req *pushapi.Request) (*pushapi.PushResponse, error)
}

// newAppPusher builds what `push send` sends through for app; release frees
// what it holds (nothing yet; with the guard, its Redis client).
func newAppPusher(_ context.Context, _ *config.Config, app *config.App) (p pusher, release func(), err error) {
	client, err := pushapi.NewClient(app.ClientConfig())
	if err != nil {
		return nil, nil, fmt.Errorf("app %s: %w", app.Name, err)
	}
	return client, func() {}, nil
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
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			app, err := appFromFlag(cfg, appName)
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
				return &exitError{code: 1, err: fmt.Errorf("%s: invalid push body: %s; nothing sent", args[0], plural(len(problems), "problem"))}
			}
			p, release, err := newAppPusher(cmd.Context(), cfg, app)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer release()

			res, sendErr := p.Push(cmd.Context(), req)
			report := sendReport(app.Name, res, sendErr)
			out := cmd.OutOrStdout()
			if g.output == "json" {
				if err := writeJSON(out, report); err != nil {
					return err
				}
			} else if sendErr == nil {
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintf(tw, "app\t%s\nid\t%s\nmessageUID\t%s\nhost\t%s\nrequestId\t%s\n", app.Name, res.ID, res.MessageUID, res.Host, res.RequestID)
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if sendErr != nil {
				return &exitError{code: 1, err: fmt.Errorf("push send (app %s): %w%s", app.Name, sendErr, outcomeAdvice(report.Outcome))}
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
func outcomeAdvice(o pushapi.Outcome) string {
	switch o {
	case pushapi.OutcomeUnknown:
		return "\n  outcome unknown: the service may have sent this push; check before sending it again (each push costs quota)"
	case pushapi.OutcomeRateLimited:
		return "\n  rate limited: the app's quota is used up; send again when its window reopens"
	case pushapi.OutcomeRetry:
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
	if err != nil || len(problems) > 0 {
		return nil, problems, err
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
// when it starts with '{') into v, a pointer to a struct with JSON tags. The
// document's shape is checked against v's type first, so that every unknown
// field and wrongly typed value is reported with its JSON path instead of
// being dropped or stopping at the first. err is for malformed documents,
// with the position.
func decodeBody(name string, data []byte, v any) ([]pushapi.FieldError, error) {
	if isYAML(name, data) {
		converted, err := yamlToJSON(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		data = converted
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonPositionError(name, data, err)
	}
	end := dec.InputOffset()
	if extra := int64(len(bytes.TrimLeft(data[end:], " \t\r\n"))); extra > 0 {
		return nil, fmt.Errorf("%s:%s: unexpected data after the JSON document", name, lineCol(data, int64(len(data))-extra))
	}
	var problems []pushapi.FieldError
	checkShape("", doc, reflect.TypeOf(v).Elem(), &problems)
	if len(problems) > 0 {
		return problems, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return nil, nil
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

func yamlToJSON(data []byte) ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("YAML document cannot be read as JSON (are all mapping keys strings?): %w", err)
	}
	return out, nil
}

// jsonPositionError names the file and the line:column of a JSON syntax
// error.
func jsonPositionError(name string, data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the offending byte; lineCol wants its index.
		return fmt.Errorf("%s:%s: invalid JSON: %w", name, lineCol(data, max(se.Offset-1, 0)), err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: invalid JSON: unexpected end of input", name)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// lineCol renders the position of the byte at index offset as
// "line:column" (both from 1).
func lineCol(data []byte, offset int64) string {
	offset = min(offset, int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("%d:%d", line, col)
}

// checkShape compares a decoded JSON value (numbers as json.Number) with the
// Go type that will receive it and reports unknown fields (keys are
// case-sensitive, unlike encoding/json) and values of the wrong kind.
func checkShape(path string, v any, t reflect.Type, out *[]pushapi.FieldError) {
	if v == nil {
		return // null leaves the field unset
	}
	add := func(p, format string, a ...any) {
		if p == "" {
			p = "(document)"
		}
		*out = append(*out, pushapi.FieldError{Path: p, Rule: fmt.Sprintf(format, a...), Code: pushapi.CodeParam})
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			add(path, "must be an object, got %s", jsonKind(v))
			return
		}
		known := map[string]reflect.Type{}
		var order []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			known[name] = f.Type
			order = append(order, name)
		}
		for _, name := range order {
			if val, ok := obj[name]; ok {
				checkShape(joinJSONPath(path, name), val, known[name], out)
			}
		}
		var unknown []string
		for k := range obj {
			if _, ok := known[k]; !ok {
				unknown = append(unknown, k)
			}
		}
		slices.Sort(unknown)
		for _, k := range unknown {
			rule := "unknown field"
			if near := nearest(k, order); near != "" {
				rule += fmt.Sprintf(" (did you mean %q?)", near)
			} else {
				rule += "; known fields: " + strings.Join(order, ", ")
			}
			add(joinJSONPath(path, k), "%s", rule)
		}
	case reflect.Map:
		if _, ok := v.(map[string]any); !ok {
			add(path, "must be an object, got %s", jsonKind(v))
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			add(path, "must be a list, got %s", jsonKind(v))
			return
		}
		for i, item := range list {
			checkShape(fmt.Sprintf("%s[%d]", path, i), item, t.Elem(), out)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			add(path, "must be a string, got %s", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			add(path, "must be true or false, got %s", jsonKind(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			add(path, "must be an integer, got %s", jsonKind(v))
			return
		}
		if _, err := n.Int64(); err != nil {
			add(path, "must be an integer, got %s", n)
		}
	}
}

func joinJSONPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("a string (%q)", truncate(x, 20))
	case json.Number:
		return "a number (" + x.String() + ")"
	case bool:
		return fmt.Sprintf("a boolean (%t)", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// nearest is the candidate closest to key when it is a likely typo of it
// (same letters ignoring case, or at most 2 edits away), else "".
func nearest(key string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if strings.EqualFold(c, key) {
			return c
		}
		if d := editDistance(strings.ToLower(key), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (in bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
