package main

import (
	"strings"
	"testing"
)

// TestArgCountErrorsNameTheCommandAndArgument: a missing or extra
// argument gets cobra's bare "tagcast: accepts 1 arg(s), received 0",
// which names neither the command nor the argument it wants (FILE, ID,
// USER). `tags set` was already given a message that does
// ("tags set: USER is required: tags set --app NAME USER [TAG...]"); the
// other commands of DESIGN's command line still print the bare text, and
// with -o json that text is the whole report.
func TestArgCountErrorsNameTheCommandAndArgument(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string // the command path and the argument it wants
	}{
		{[]string{"push", "validate"}, []string{"push validate", "FILE"}},
		{[]string{"push", "send", "--app", "main"}, []string{"push send", "FILE"}},
		{[]string{"campaign", "create"}, []string{"campaign create", "FILE"}},
		{[]string{"campaign", "show"}, []string{"campaign show", "ID"}},
		{[]string{"campaign", "pause", "1", "2"}, []string{"campaign pause", "ID"}},
		{[]string{"campaign", "retry"}, []string{"campaign retry", "ID"}},
		{[]string{"tags", "get", "--app", "main"}, []string{"tags get", "USER"}},
		{[]string{"config", "check", "a.yaml", "b.yaml"}, []string{"config check", "FILE"}},
	} {
		r := runTagcast(t, cliEnv{}, tc.args...)
		if r.code != 2 {
			t.Errorf("tagcast %s: exit %d, want 2 (usage)", strings.Join(tc.args, " "), r.code)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("tagcast %s: error %q does not name %q", strings.Join(tc.args, " "), strings.TrimSpace(r.stderr), w)
			}
		}
	}
}
