package campaign

import (
	"errors"
	"strings"
	"testing"
)

// Was: MaxTemplateSteps bounds loop iterations and template calls, and
// cappedBuffer what a template writes, but not what it builds in
// variables. printf (or print, js, html, urlquery) doubled a value at each
// of a handful of steps: 24 iterations built a 16 MiB string (its output
// here is its length, 8 bytes), and '{{range 40}}' would need 1 TiB, so the
// admin API's create handler (or `tagcast serve`) would be killed for
// memory before it answered, by a template of 80 bytes. The text-building
// builtins now refuse a result longer than any push body.
func TestTemplateValueBuiltInVariablesIsBounded(t *testing.T) {
	t.Parallel()
	src := yamlCampaign(`    alert: '{{$s := "x"}}{{range 24}}{{$s = printf "%s%s" $s $s}}{{end}}{{len $s}}'` + "\n")
	c, err := ParseFile(src, testOpts)
	var verr *ValidationError
	if !errors.As(err, &verr) || !strings.Contains(err.Error(), "notification.alert") {
		alert := ""
		if err == nil && c.Push.Notification != nil {
			if r, rerr := Render(c, *c.NextRunAt); rerr == nil {
				alert = r.Notification.Alert
			}
		}
		t.Fatalf("a template that builds a 16 MiB value in 25 steps: ParseFile err = %v (rendered alert %q); "+
			"want a *ValidationError naming notification.alert (doubling escapes MaxTemplateSteps and the output cap: range 40 needs 1 TiB)", err, alert)
	}
}
