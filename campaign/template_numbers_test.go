package campaign

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// fireWithVars parses a campaign file as `campaign create` does, round-trips
// its vars as the store does (json.Marshal, then UseNumber), and renders the
// alert of the first fire, as newRun does.
// campaignWith is a YAML campaign file of schedule (a flow mapping), vars
// and an iOS push to everyone whose alert is alert (quoted in single
// quotes).
func campaignWith(schedule, vars, alert string) []byte {
	return []byte(`
name: n
app: main
schedule: ` + schedule + `
vars: ` + vars + `
push:
  platform: [ios]
  fromuserid: system
  audience: {is_to_all: true}
  message: {objectName: "RC:TxtMsg", content: '{"content":"x"}'}
  notification: {alert: '` + alert + `'}
`)
}

// onceAt and daily are campaignWith's schedules of the tests.
const (
	onceAt = `{at: 2026-12-01T09:00:00+08:00}`
	daily  = `{cron: "0 9 * * *", timezone: Asia/Shanghai}`
)

func fireWithVars(t *testing.T, vars, alert string) string {
	t.Helper()
	c, err := ParseFile(campaignWith(onceAt, vars, alert), testOpts)
	if err != nil {
		t.Fatalf("ParseFile refuses a campaign that rendered fine at every fire before f1c5317: %v", err)
	}
	js, err := json.Marshal(c.Vars)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	c.Vars = nil
	if err := dec.Decode(&c.Vars); err != nil {
		t.Fatal(err)
	}
	sends, err := RenderSends(c, *c.NextRunAt)
	if err != nil {
		t.Fatalf("fire: %v", err)
	}
	return sends[0].Request.Notification.Alert
}

func wantRendered(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("fire pushes %q, want %q", got, want)
	}
}

// A var's number prints as written (a Number keeps its JSON text), not as
// a float64's %v (1.2345675e+06, 1e-05).
func TestFractionalVarPrintsAsWritten(t *testing.T) {
	t.Parallel()
	wantRendered(t, fireWithVars(t, `{price: 1234567.5}`, `Now {{.Vars.price}}`), "Now 1234567.5")
	wantRendered(t, fireWithVars(t, `{rate: 0.00001}`, `Rate {{.Vars.rate}}`), "Rate 0.00001")
}

// An integer beyond int64 (a 20-digit order id) is stored exactly and
// printed exactly, not as a float64 (1.2345678901234567e+19).
func TestIntegerBeyondInt64PrintsAsWritten(t *testing.T) {
	t.Parallel()
	wantRendered(t, fireWithVars(t, `{order: 12345678901234567890}`, `Order {{.Vars.order}}`), "Order 12345678901234567890")
}

// printf "%s" on a number var prints it ("42"), not "%!s(int64=42)".
func TestPrintfPercentSOnNumberVar(t *testing.T) {
	t.Parallel()
	wantRendered(t, fireWithVars(t, `{code: 42}`, `Code {{printf "%s" .Vars.code}}`), "Code 42")
}

// printf's float verbs format a whole number too: a var's type does not
// depend on its value (10 and 9.9 are both Numbers).
func TestPrintfFloatVerbOnWholeNumber(t *testing.T) {
	t.Parallel()
	wantRendered(t, fireWithVars(t, `{price: 10.0}`, `Now {{printf "%.2f" .Vars.price}}`), "Now 10.00")
}

// Two number vars compare as numbers, whole or not (10 < 12.5), and not as
// texts or as incompatible types.
func TestCompareWholeAndFractionalVars(t *testing.T) {
	t.Parallel()
	wantRendered(t, fireWithVars(t, `{price: 10, was: 12.5}`, `{{if lt .Vars.price .Vars.was}}Now {{.Vars.price}}{{end}}`), "Now 10")
}

// index on a text gives its byte, as text/template's own index does.
func TestIndexOnString(t *testing.T) {
	t.Parallel()
	wantRendered(t, fireWithVars(t, `{name: Winter}`, `{{printf "%c" (index .Vars.name 0)}}.`), "W.")
}

// Numbers compare as numbers, not as their texts: 9 < 10 ("9" > "10" as
// text), and a var equals a template constant of the same value.
func TestNumberVarsCompareAsNumbers(t *testing.T) {
	t.Parallel()
	wantRendered(t, fireWithVars(t, `{a: 9, b: 10}`, `{{if lt .Vars.a .Vars.b}}less{{else}}more{{end}}`), "less")
	wantRendered(t, fireWithVars(t, `{n: 3}`, `{{if eq .Vars.n 3}}three{{end}} {{printf "%d" .Vars.n}}`), "three 3")
}

// A template whose output outgrows any push body is stopped with an error
// at creation, before it fills the process's memory.
func TestATemplateThatRendersTooMuchIsRefused(t *testing.T) {
	t.Parallel()
	_, err := ParseFile([]byte(`name: n
app: main
schedule: {now: true}
push:
  platform: [ios]
  fromuserid: system
  audience: {is_to_all: true}
  message: {objectName: AppNote, content: hi}
  notification: {alert: '{{range 100000}}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{end}}'}
`), testOpts)
	var verr *ValidationError
	if !errors.As(err, &verr) || !strings.Contains(err.Error(), "notification.alert") || !strings.Contains(err.Error(), "renders more than") {
		t.Errorf("ParseFile = %v; want notification.alert refused for rendering too much", err)
	}
}
