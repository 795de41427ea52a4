package campaign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/tagcast/tagcast/pushapi"
)

// MaxUserIDsPerSend is the service's limit on audience.userid per call.
const MaxUserIDsPerSend = 1000

// TemplateData is what templates see: {{.FireTime.Format "15:04"}},
// {{.Vars.product}}, {{.Campaign.Name}}.
type TemplateData struct {
	FireTime time.Time      // the Run's scheduled instant, in the schedule's zone
	Vars     map[string]any // the campaign's vars; an unknown key is an error
	Campaign TemplateCampaign
}

// TemplateCampaign is the part of the campaign templates may use.
type TemplateCampaign struct {
	ID   int64
	Name string
	App  string
}

// templateField is one text field of the body that may hold a template.
type templateField struct {
	path string
	ptr  *string
}

// templateFields lists the templated text fields of r (pointers into r).
func templateFields(r *pushapi.Request) []templateField {
	var out []templateField
	if m := r.Message; m != nil {
		out = append(out, templateField{"message.content", &m.Content})
	}
	if n := r.Notification; n != nil {
		out = append(out, templateField{"notification.title", &n.Title}, templateField{"notification.alert", &n.Alert})
		if n.IOS != nil {
			out = append(out, templateField{"notification.ios.title", &n.IOS.Title}, templateField{"notification.ios.alert", &n.IOS.Alert})
		}
		if n.Android != nil {
			out = append(out, templateField{"notification.android.alert", &n.Android.Alert})
		}
		if n.HarmonyOS != nil {
			out = append(out, templateField{"notification.harmonyOS.alert", &n.HarmonyOS.Alert})
		}
	}
	return out
}

// cloneRequest deep-copies the parts of r that rendering and splitting
// write to.
func cloneRequest(r pushapi.Request) pushapi.Request {
	c := r
	c.Platform = append([]string(nil), r.Platform...)
	c.Audience.UserID = append([]string(nil), r.Audience.UserID...)
	if r.Message != nil {
		m := *r.Message
		c.Message = &m
	}
	if r.Notification != nil {
		n := *r.Notification
		if n.IOS != nil {
			v := *n.IOS
			n.IOS = &v
		}
		if n.Android != nil {
			v := *n.Android
			n.Android = &v
		}
		if n.HarmonyOS != nil {
			v := *n.HarmonyOS
			n.HarmonyOS = &v
		}
		c.Notification = &n
	}
	return c
}

// renderField executes one template; an unknown variable is an error.
func renderField(path, text string, data TemplateData) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	steps := 0
	step := func() (string, error) {
		if steps++; steps > MaxTemplateSteps {
			return "", errTemplateSteps
		}
		return "", nil
	}
	t, err := template.New(path).Option("missingkey=error").Funcs(templateFuncs).Funcs(template.FuncMap{stepFunc: step}).Parse(text)
	if err != nil {
		return "", err
	}
	if err := numbersTruth(t); err != nil {
		return "", err
	}
	if err := countSteps(t); err != nil {
		return "", err
	}
	b := &cappedBuffer{max: pushapi.MaxBodyBytes}
	if err := t.Execute(b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// MaxTemplateSteps bounds a template's work at each rendering: its loop
// iterations and template executions together (its own included). Its output is bounded too
// (cappedBuffer), but a loop that writes nothing ({{range 1000000000000}}
// {{end}}), or a template that calls itself twice, would otherwise keep a
// campaign's creation (the admin API, the CLI) or a fire busy for hours.
const MaxTemplateSteps = 100_000

// stepFunc names the function countSteps calls at each loop iteration and
// each template's start; a name no campaign has reason to use.
const stepFunc = "_tagcast_step"

var errTemplateSteps = fmt.Errorf("takes more than %d steps, loop iterations and template executions (its own included): a template's work is bounded, as its output is", MaxTemplateSteps)

// stepAction is the parsed action {{stepFunc}}, parsed once: countSteps
// grafts it into every template, whose execution only reads it.
var stepAction = sync.OnceValues(func() (parse.Node, error) {
	probe, err := template.New("step").Funcs(template.FuncMap{stepFunc: func() string { return "" }}).Parse("{{" + stepFunc + "}}")
	if err != nil {
		return nil, err
	}
	return probe.Root.Nodes[0], nil
})

// countSteps makes every range iteration and every template's execution
// (the main one, each {{define}}d one at every {{template}} call) begin
// with a call of stepFunc: it grafts the action of a parsed {{stepFunc}}
// at the head of each such list.
func countSteps(t *template.Template) error {
	tick, err := stepAction()
	if err != nil {
		return err
	}
	var graft func(n parse.Node)
	graft = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				graft(c)
			}
		case *parse.RangeNode:
			graft(n.List)
			graft(n.ElseList)
			n.List.Nodes = append([]parse.Node{tick}, n.List.Nodes...)
		case *parse.IfNode:
			graft(n.List)
			graft(n.ElseList)
		case *parse.WithNode:
			graft(n.List)
			graft(n.ElseList)
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Root == nil {
			continue
		}
		graft(tt.Root)
		tt.Root.Nodes = append([]parse.Node{tick}, tt.Root.Nodes...)
	}
	return nil
}

// cappedf and capped wrap the builtins that build text: a result longer
// than any push body is errRenderTooLong. (The result is built before it
// is measured: at most one value over the bound, from arguments under it.)
func cappedf(f func(string, ...any) string) func(string, ...any) (string, error) {
	return func(format string, args ...any) (string, error) { return bounded(f(format, args...)) }
}

func capped(f func(...any) string) func(...any) (string, error) {
	return func(args ...any) (string, error) { return bounded(f(args...)) }
}

func bounded(s string) (string, error) {
	if len(s) > pushapi.MaxBodyBytes {
		return "", errRenderTooLong
	}
	return s, nil
}

// errRenderTooLong stops a template whose output outgrows any body the
// service could take ({{range 100000000}}x{{end}}), before it fills memory.
var errRenderTooLong = fmt.Errorf("renders more than %d bytes, more than any push body may hold", pushapi.MaxBodyBytes)

// cappedBuffer is a bytes.Buffer that refuses to grow past max.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errRenderTooLong
	}
	return b.Buffer.Write(p)
}

// strictIndex is text/template's index for vars (JSON values: objects and
// arrays), with an error for a key or position that is not there: the
// builtin returns the zero value, which prints as "<no value>" in a push.
func strictIndex(item any, keys ...any) (any, error) {
	for _, k := range keys {
		switch v := item.(type) {
		case map[string]any:
			key, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("index: key %v of an object must be a string", k)
			}
			next, ok := v[key]
			if !ok {
				return nil, fmt.Errorf("index: no key %q", key)
			}
			item = next
		case []any:
			i, ok := toIndex(k)
			if !ok || i < 0 || i >= len(v) {
				return nil, fmt.Errorf("index: %v is out of range for a list of %d", k, len(v))
			}
			item = v[i]
		case string:
			i, ok := toIndex(k)
			if !ok || i < 0 || i >= len(v) {
				return nil, fmt.Errorf("index: %v is out of range for a text of %d bytes", k, len(v))
			}
			item = v[i] // a byte, as the builtin gives
		default:
			return nil, fmt.Errorf("index: cannot index %T", item)
		}
	}
	return item, nil
}

// toIndex reads a list position given to index.
func toIndex(k any) (int, bool) {
	switch n := k.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		if n == float64(int(n)) {
			return int(n), true
		}
	case Number:
		if i, err := strconv.Atoi(n.text); err == nil {
			return i, true
		}
	case zeroNumber:
		return toIndex(n.number())
	}
	return 0, false
}

// templateFuncs replace text/template's index and comparisons: index errs
// on a missing key, and the comparisons compare vars' numbers as numbers.
var templateFuncs = template.FuncMap{
	// The builtins that build text, bounded like a template's output: a
	// value doubled at each of a few loop steps ({{$s = printf "%s%s" $s
	// $s}}) is not written, so cappedBuffer never saw it, and 40 steps
	// would need a terabyte.
	"printf":   cappedf(fmt.Sprintf),
	"print":    capped(fmt.Sprint),
	"println":  capped(fmt.Sprintln),
	"js":       capped(template.JSEscaper),
	"html":     capped(template.HTMLEscaper),
	"urlquery": capped(template.URLQueryEscaper),
	"index":    strictIndex,
	"eq":       eqFunc,
	"ne":       func(a, b any) (bool, error) { eq, err := eqFunc(a, b); return !eq, err },
	"lt":       orderFunc(func(c int) bool { return c < 0 }),
	"le":       orderFunc(func(c int) bool { return c <= 0 }),
	"gt":       orderFunc(func(c int) bool { return c > 0 }),
	"ge":       orderFunc(func(c int) bool { return c >= 0 }),
	truthFunc:  truthValue,
}

// Number is a number of vars as templates see it: its JSON text, printed as
// written ("1234567.5", "12345678901234567890", never "1.2345675e+06"), and
// formatted by printf's verbs as the number it is (%d, %.2f, %e, %x), at
// creation and at every fire alike.
type Number struct{ text string }

// String is the number as written.
func (n Number) String() string { return n.text }

// Format implements fmt.Formatter.
func (n Number) Format(f fmt.State, verb rune) {
	switch verb {
	case 'd', 'b', 'o', 'O', 'x', 'X':
		if i, ok := new(big.Int).SetString(n.text, 10); ok {
			fmt.Fprintf(f, fmt.FormatString(f, verb), i)
			return
		}
		if x, ok := new(big.Float).SetString(n.text); ok && x.IsInt() && verb == 'd' {
			i, _ := x.Int(nil)
			fmt.Fprintf(f, fmt.FormatString(f, verb), i)
			return
		}
	case 'e', 'E', 'f', 'F', 'g', 'G':
		if x, ok := new(big.Float).SetPrec(256).SetString(n.text); ok {
			if verb == 'F' {
				verb = 'f'
			}
			fmt.Fprintf(f, fmt.FormatString(f, verb), x)
			return
		}
	case 'v', 's', 'q':
		fmt.Fprintf(f, fmt.FormatString(f, verb), n.text)
		return
	}
	fmt.Fprintf(f, "%%!%c(number=%s)", verb, n.text)
}

// operand reads a comparison's operand: a number (a Number, or any Go
// integer or float) as an exact rational, a text, or a bool.
func operand(v any) (any, error) {
	if z, ok := v.(zeroNumber); ok {
		v = z.number()
	}
	if n, ok := v.(Number); ok {
		r, ok := new(big.Rat).SetString(n.text)
		if !ok {
			return nil, fmt.Errorf("invalid number %s", n.text)
		}
		return r, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return new(big.Rat).SetInt64(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return new(big.Rat).SetFrac(new(big.Int).SetUint64(rv.Uint()), big.NewInt(1)), nil
	case reflect.Float32, reflect.Float64:
		r := new(big.Rat)
		if r.SetFloat64(rv.Float()) == nil {
			return nil, fmt.Errorf("invalid number %v", v)
		}
		return r, nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	}
	return nil, fmt.Errorf("invalid type for comparison: %T", v)
}

// compare orders a and b: numbers with numbers, texts with texts; bools
// only for equality (ordered false).
func compare(a, b any) (c int, ordered bool, err error) {
	x, err := operand(a)
	if err != nil {
		return 0, false, err
	}
	y, err := operand(b)
	if err != nil {
		return 0, false, err
	}
	switch x := x.(type) {
	case *big.Rat:
		if y, ok := y.(*big.Rat); ok {
			return x.Cmp(y), true, nil
		}
	case string:
		if y, ok := y.(string); ok {
			return strings.Compare(x, y), true, nil
		}
	case bool:
		if y, ok := y.(bool); ok {
			if x == y {
				return 0, false, nil
			}
			return 1, false, nil
		}
	}
	return 0, false, fmt.Errorf("incompatible types for comparison: %T and %T", a, b)
}

// eqFunc is eq: arg1 equals any of the others.
func eqFunc(arg1 any, arg2 ...any) (bool, error) {
	if len(arg2) == 0 {
		return false, errors.New("missing argument for comparison")
	}
	for _, b := range arg2 {
		c, _, err := compare(arg1, b)
		if err != nil {
			return false, err
		}
		if c == 0 {
			return true, nil
		}
	}
	return false, nil
}

// orderFunc is lt, le, gt or ge, by what it wants of the comparison.
func orderFunc(want func(int) bool) func(a, b any) (bool, error) {
	return func(a, b any) (bool, error) {
		c, ordered, err := compare(a, b)
		if err != nil {
			return false, err
		}
		if !ordered {
			return false, fmt.Errorf("invalid type for ordering: %T", a)
		}
		return want(c), nil
	}
}

// templateVars is vars as templates see them: every number kept as its
// JSON text (json.Number) a Number, so that it prints as written and
// printf's verbs and comparisons treat it as the number it is, alike when
// a campaign is created and at every fire.
func templateVars(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = templateVars(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = templateVars(e)
		}
		return out
	case json.Number:
		return Number{text: t.String()}
	}
	return v
}

// RenderError lists the template fields that failed, with their paths
// (relative to the push body).
type RenderError struct {
	CampaignID int64
	Problems   []FieldProblem
}

func (e *RenderError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("campaign %d: render: %s", e.CampaignID, strings.Join(parts, "; "))
}

// Render executes the push body's templates for a fire at fireTime (shown to
// templates in the schedule's zone) and returns a body that passes
// pushapi's validation except for the audience size, which Split handles.
func Render(c Campaign, fireTime time.Time) (pushapi.Request, error) {
	loc, err := c.Schedule.Location()
	if err != nil {
		return pushapi.Request{}, fmt.Errorf("campaign %d: render: %w", c.ID, err)
	}
	vars, _ := templateVars(c.Vars).(map[string]any)
	if vars == nil {
		vars = map[string]any{}
	}
	data := TemplateData{
		FireTime: fireTime.In(loc),
		Vars:     vars,
		Campaign: TemplateCampaign{ID: c.ID, Name: c.Name, App: c.App},
	}
	out := cloneRequest(c.Push)
	rerr := &RenderError{CampaignID: c.ID}
	for _, f := range templateFields(&out) {
		s, err := renderField(f.path, *f.ptr, data)
		if err != nil {
			rerr.Problems = append(rerr.Problems, FieldProblem{Path: f.path, Rule: templateRule(err)})
			continue
		}
		if strings.ContainsRune(s, 0) {
			// A fire-time template output the creation check did not see:
			// this run fails alone (PostgreSQL would refuse the whole batch).
			rerr.Problems = append(rerr.Problems, FieldProblem{Path: f.path, Rule: "template renders a NUL character (U+0000)"})
			continue
		}
		*f.ptr = s
	}
	if len(rerr.Problems) > 0 {
		return pushapi.Request{}, rerr
	}
	return out, nil
}

// templateRule turns a text/template error into a short rule.
func templateRule(err error) string {
	if errors.Is(err, errTemplateSteps) {
		return "template " + errTemplateSteps.Error()
	}
	var ee template.ExecError
	if errors.As(err, &ee) {
		return "template: " + strings.TrimPrefix(ee.Err.Error(), "template: ")
	}
	return err.Error()
}

// RenderedSend is one send of a fire: its request and its body as it goes
// on the wire (pushapi.Request.Encode), encoded once.
type RenderedSend struct {
	Request pushapi.Request
	Body    []byte
}

// RenderSends renders a fire's body and splits it into the bodies of its
// sends, each checked against the service's rules: a fire whose body breaks
// one (a templated title longer on this day than on the day checked at
// creation) is a *RenderError naming the field, and its run fails at once
// rather than wait for quota to send what the service would refuse.
func RenderSends(c Campaign, fireTime time.Time) ([]RenderedSend, error) {
	body, err := Render(c, fireTime)
	if err != nil {
		return nil, err
	}
	chunks := Split(body)
	sends := make([]RenderedSend, 0, len(chunks))
	rerr := &RenderError{CampaignID: c.ID}
	seen := map[FieldProblem]bool{}
	for _, b := range chunks {
		js, err := b.Encode()
		sends = append(sends, RenderedSend{Request: b, Body: js})
		var pv *pushapi.ValidationError
		if errors.As(err, &pv) {
			for _, fe := range pv.Problems {
				p := FieldProblem{Path: fe.Path, Rule: fe.Rule}
				if !seen[p] {
					seen[p] = true
					rerr.Problems = append(rerr.Problems, p)
				}
			}
		} else if err != nil {
			return nil, fmt.Errorf("campaign %d: render: %w", c.ID, err)
		}
	}
	if len(rerr.Problems) > 0 {
		return nil, rerr
	}
	return sends, nil
}

// Split turns a rendered body into the bodies of a Run's sends: one per
// chunk of at most MaxUserIDsPerSend user ids, or the body itself for tag,
// package-name and all-users audiences. A user id listed twice is kept once
// (in its first place): in two chunks it would be pushed twice.
func Split(body pushapi.Request) []pushapi.Request {
	ids := body.Audience.UserID
	if len(ids) == 0 || body.Audience.IsToAll {
		return []pushapi.Request{body}
	}
	seen := make(map[string]bool, len(ids))
	unique := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	ids = unique
	var out []pushapi.Request
	for start := 0; start < len(ids); start += MaxUserIDsPerSend {
		end := min(start+MaxUserIDsPerSend, len(ids))
		chunk := cloneRequest(body)
		chunk.Audience.UserID = append([]string(nil), ids[start:end]...)
		out = append(out, chunk)
	}
	return out
}
