package campaign

import (
	"strings"
	"testing"
	"time"
)

// A key given twice in a YAML mapping is refused naming the key as written.
// Was (for a moment this session, c43f8de): numbersAsMarkedText had
// rewritten a number key's text before yaml.v3 checked duplicates, and the
// refusal named "<mark>:1" (found by a review).
func TestDuplicateNumberKeyRefusalNamesTheKeyAsWritten(t *testing.T) {
	t.Parallel()
	src := `
name: n
app: main
schedule: {at: 2026-12-01T09:00:00+08:00}
vars:
  days: {1: Monday, 2: Tuesday, 1: Wednesday}
push:
  platform: [ios]
  fromuserid: system
  audience: {is_to_all: true}
  message: {objectName: "RC:TxtMsg", content: '{"content":"x"}'}
  notification: {alert: 'hi'}
`
	_, err := ParseFile([]byte(src), testOpts)
	if err == nil {
		t.Fatal("ParseFile accepted a key given twice")
	}
	if msg := err.Error(); strings.Contains(msg, `\x00`) || strings.Contains(msg, "\x00") || !strings.Contains(msg, `mapping key "1" already defined`) {
		t.Errorf("ParseFile = %q; want the key named as written (mapping key \"1\" already defined), not the internal number mark", msg)
	}
	_, err = YAMLToJSON([]byte("tags: {1: a, 1: b}\n"))
	if err == nil || strings.Contains(err.Error(), `\x00`) || !strings.Contains(err.Error(), `mapping key "1" already defined`) {
		t.Errorf("YAMLToJSON = %v; want mapping key \"1\" already defined", err)
	}
}

// What and/or return for a zero var (and a variable assigned in an if/with
// pipeline) prints and formats as the number written. Was (for a moment
// this session, c43f8de): the truth rewrite turned a zero Number into the
// int 0, and {{printf "%.2f" (or .Vars.sale .Vars.price)}} pushed
// "%!f(int=00)" (found by a review).
func TestZeroNumberReturnedByOrKeepsItsText(t *testing.T) {
	t.Parallel()
	wantRendered(t, fireWithVars(t, `{sale_price: 0, price: 0.00}`,
		`Price {{printf "%.2f" (or .Vars.sale_price .Vars.price)}}`), "Price 0.00")
	wantRendered(t, fireWithVars(t, `{sale_price: 0.00, price: 0.00}`,
		`Price {{or .Vars.sale_price .Vars.price}}`), "Price 0.00")
}

// The creation check resolves chains as text/template does: a method of a
// pointer (*time.Location's String), and $ declared anew is not the data.
// Was (for a moment this session, c43f8de): both refused templates that
// render at every fire (found by a review).
func TestNameCheckAcceptsWhatTemplatesRender(t *testing.T) {
	t.Parallel()
	for _, alert := range []string{
		`Zone {{.FireTime.Location.String}}`,
		`{{$ := .Vars}}{{$.n}}`,
	} {
		c, err := ParseFile(campaignWith(`{at: 2026-12-01T09:00:00+08:00, timezone: Asia/Shanghai}`, `{n: 3}`, alert), testOpts)
		if err != nil {
			t.Errorf("%s: ParseFile refused a template that renders: %v", alert, err)
			continue
		}
		if _, err := RenderSends(c, time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)); err != nil {
			t.Errorf("%s: RenderSends: %v", alert, err)
		}
	}
}
