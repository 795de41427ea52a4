package campaign

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A number in vars renders at creation exactly as the store renders it at
// every fire (the store reloads vars as json.Number): ParseFile keeps
// numbers as their text. It once decoded them as float64s, rendered
// 12345678 as 1.2345678e+07, and rounded integers beyond 2^53 before
// storing them.
func TestVarsNumbersKeepTheirTextInParseFile(t *testing.T) {
	t.Parallel()
	src := `
name: n
app: main
schedule: {at: 2026-12-01T09:00:00+08:00}
vars: {code: 12345678, order: 9007199254740993}
push:
  platform: [ios]
  fromuserid: system
  audience: {is_to_all: true}
  message: {objectName: "RC:TxtMsg", content: '{"content":"x"}'}
  notification: {alert: 'Code {{.Vars.code}} for order {{.Vars.order}}'}
`
	c, err := ParseFile([]byte(src), testOpts)
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	const want = "Code 12345678 for order 9007199254740993"
	body, err := Render(c, *c.NextRunAt)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if got := body.Notification.Alert; got != want {
		t.Errorf("rendered at creation: %q, want %q (vars[code] is a %T)", got, want, c.Vars["code"])
	}
	stored, err := json.Marshal(c.Vars) // what Store.Create keeps
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stored), "9007199254740993") {
		t.Errorf("vars kept by the store: %s; the order id lost its last digit", stored)
	}
}

// Split puts every user id in exactly one send: a user id listed twice
// (1001 entries, 1000 distinct) is kept once. Its two copies once landed in
// two chunks: pushed twice, and a second quota slot spent.
func TestSplitSendsADuplicatedUserIDOnce(t *testing.T) {
	t.Parallel()
	ids := make([]string, 0, 1001)
	for i := range 1000 {
		ids = append(ids, fmt.Sprintf("u%04d", i))
	}
	ids = append(ids, "u0000") // listed twice
	quoted, _ := json.Marshal(ids)
	src := `
name: n
app: main
schedule: {at: 2026-12-01T09:00:00+08:00}
push:
  platform: [ios]
  fromuserid: system
  audience: {userid: ` + string(quoted) + `, is_to_all: false}
  message: {objectName: "RC:TxtMsg", content: '{"content":"x"}'}
  notification: {alert: hi}
`
	c, err := ParseFile([]byte(src), testOpts)
	if err != nil {
		return // refused at creation: acceptable
	}
	body, err := Render(c, *c.NextRunAt)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	chunks := Split(body)
	seen := map[string]int{}
	for _, ch := range chunks {
		for _, id := range ch.Audience.UserID {
			seen[id]++
		}
	}
	if seen["u0000"] != 1 || len(chunks) != 1 {
		t.Errorf("user u0000 is in %d sends, the run has %d sends for 1000 distinct users; want 1 and 1", seen["u0000"], len(chunks))
	}
}

// ParseFile checks only the first fire. A title that names the weekday fits
// in 50 characters on the first fire (Friday) and not on a later one
// (Wednesday): RenderSends refuses that later body, naming the field, so the
// store creates that fire's run failed. It was created pending, with a send
// the service would refuse, waiting for quota.
func TestRenderSendsRefusesABodyInvalidAtThisFire(t *testing.T) {
	t.Parallel()
	src := `
name: n
app: main
schedule: {cron: "0 9 * * *"}
push:
  platform: [ios]
  fromuserid: system
  audience: {is_to_all: true}
  message: {objectName: "RC:TxtMsg", content: '{"content":"x"}'}
  notification: {alert: hi, title: 'Sale: 30% off all winter coats until {{.FireTime.Format "Monday"}} night!'}
`
	c, err := ParseFile([]byte(src), testOpts)
	if err != nil {
		t.Fatalf("ParseFile (first fire %s): %v", clockNow.Add(time.Hour).Weekday(), err)
	}
	wednesday := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	_, err = RenderSends(c, wednesday)
	var rerr *RenderError
	if !errors.As(err, &rerr) || len(rerr.Problems) != 1 || rerr.Problems[0].Path != "notification.title" {
		t.Errorf("RenderSends(%s) = %v; want a RenderError naming notification.title", wednesday.Weekday(), err)
	}
}

// A var left empty in the file (`product:` is YAML null) or a missing key
// read with index is refused at creation. Both once rendered
// text/template's "<no value>" into the push, and every user got
// "<no value>: 30% off".
func TestEmptyOrMissingVarIsNotPushedAsNoValue(t *testing.T) {
	t.Parallel()
	for name, alert := range map[string]string{
		"null var":      `{{.Vars.product}}: 30% off`,
		"index missing": `{{index .Vars "prodcut"}}: 30% off`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := `
name: n
app: main
schedule: {at: 2026-12-01T09:00:00+08:00}
vars: {product: }
push:
  platform: [ios]
  fromuserid: system
  audience: {is_to_all: true}
  message: {objectName: "RC:TxtMsg", content: '{"content":"x"}'}
  notification: {alert: '` + alert + `'}
`
			c, err := ParseFile([]byte(src), testOpts)
			if err != nil {
				return // refused at creation: clear
			}
			body, err := Render(c, *c.NextRunAt)
			if err != nil {
				t.Fatalf("ParseFile accepted a campaign Render refuses: %v", err)
			}
			if strings.Contains(body.Notification.Alert, "<no value>") {
				t.Errorf("accepted, and every fire pushes %q", body.Notification.Alert)
			}
		})
	}
}
