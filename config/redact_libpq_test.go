package config

import (
	"strings"
	"testing"
)

// RedactURL hides the password of a libpq key=value string whatever the
// spaces around its equal sign ("keyword = value", which libpq allows); it
// first hid only "password=x".
func TestRedactURLLibpqSpacesAroundEquals(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"host=db user=u password = hunter2 dbname=d",
		"host=db user=u password= hunter2 dbname=d",
		"host=db user=u password =hunter2 dbname=d",
	} {
		if got := RedactURL(raw); strings.Contains(got, "hunter2") {
			t.Errorf("RedactURL(%q) = %q: the password is shown", raw, got)
		}
	}
}
