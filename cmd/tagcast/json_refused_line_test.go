package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// A command line cobra refuses before parsing its flags (an unknown
// command at the top, an unknown flag) still answers --output json with a
// JSON error on stdout, exit 2: only some usage errors did, so a script
// reading stdout got nothing to parse.
func TestRefusedCommandLineAnswersJSON(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"bogus", "-o", "json"},
		{"-o", "json", "bogus"},
		{"campaign", "list", "--bogus", "--output=json"},
		{"campaign", "bogus", "-ojson"},
	} {
		r := runTagcast(t, cliEnv{}, args...)
		var got struct {
			Error string `json:"error"`
		}
		if r.code != 2 || json.Unmarshal([]byte(r.stdout), &got) != nil || !strings.Contains(got.Error, "bogus") {
			t.Errorf("%v: %s; want exit 2 and a JSON error naming what was refused", args, r)
		}
	}
	// Without --output json, nothing on stdout.
	if r := runTagcast(t, cliEnv{}, "bogus", "--", "-o", "json"); r.code != 2 || r.stdout != "" {
		t.Errorf("bogus -- -o json: %s; want exit 2, nothing on stdout (-o json is an argument after --)", r)
	}
}
