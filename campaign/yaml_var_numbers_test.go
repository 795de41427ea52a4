package campaign

import (
	"errors"
	"testing"
)

// README "Templates": numbers in vars print as written. In a YAML campaign
// file a number with a leading zero is read by yaml.v3 as octal (0123 is
// 83, 02134 is 1116) and a decimal loses its trailing zeros (19.90 is
// 19.9): the push carried another number than the operator wrote, while
// the same campaign in JSON pushes 19.90 (found by a review). Now 19.90
// goes out as written and 0123 is refused, naming its field.
func TestYAMLVarNumbersPushedAsWritten(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ written, field string }{
		{"0123", "vars.code"},  // an order code with a leading zero: pushed as 83
		{"02134", "vars.code"}, // a ZIP code: pushed as 1116
		{"19.90", "vars.code"}, // a price: pushed as 19.9
	} {
		c, err := ParseFile(campaignWith(onceAt, `{code: `+tt.written+`}`, `Code {{.Vars.code}}`), testOpts)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || !verr.reported(tt.field) {
				t.Errorf("%s: refused without naming %s: %v", tt.written, tt.field, err)
			}
			continue
		}
		sends, err := RenderSends(c, *c.NextRunAt)
		if err != nil {
			t.Fatalf("%s: RenderSends: %v", tt.written, err)
		}
		if got, want := sends[0].Request.Notification.Alert, "Code "+tt.written; got != want {
			t.Errorf("vars {code: %s} pushes %q; want %q (or the value refused naming %s)", tt.written, got, want, tt.field)
		}
	}
}
