package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// With --output json a failure is JSON on stdout as well as text on stderr:
// the message and, for invalid input, every problem with its path. A
// failed command used to leave stdout empty, so a script reading JSON got
// nothing to parse (operator walkthrough). A command that prints its own
// JSON report (push validate) is not given a second one.
func TestOutputJSONReportsFailures(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "tagcast.yaml", "apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, hosts: [\"http://127.0.0.1:1\"]}\n")
	body := writeFile(t, "bad.json", `{"platform":["ios"],"fromuserid":"sys"}`)
	vars := map[string]string{"MAIN_SECRET": secretValue}

	r := runTagcast(t, cliEnv{vars: vars}, "--config", file, "push", "send", "--app", "main", body, "-o", "json")
	var rep struct {
		Error    string `json:"error"`
		Problems []struct{ Path, Rule string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
		t.Fatalf("push send -o json of an invalid body: exit %d, stdout not JSON (%v):\n%s", r.code, err, r)
	}
	if !strings.Contains(rep.Error, "nothing sent") || len(rep.Problems) == 0 || rep.Problems[0].Path == "" {
		t.Errorf("report %+v: want the message and every problem with its path", rep)
	}
	if !strings.Contains(r.stderr, rep.Problems[0].Path) {
		t.Errorf("stderr lost the problems:\n%s", r.stderr)
	}

	r = runTagcast(t, cliEnv{vars: vars}, "--config", file, "push", "validate", body, "-o", "json")
	if strings.Count(r.stdout, `"problems"`) != 1 || json.Unmarshal([]byte(r.stdout), new(any)) != nil {
		t.Errorf("push validate -o json: want its own one JSON report:\n%s", r)
	}
}
