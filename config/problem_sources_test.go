package config

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// validateProblems is Validate's problems, failing the test when it finds
// none.
func validateProblems(t *testing.T, cfg *Config) []Problem {
	t.Helper()
	var ve *ValidationError
	if err := cfg.Validate(); !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	return ve.Problems
}

// TestBothSecretSourcesProblemNamesTheVariable: the file gives
// app_secret_env and TAGCAST_APPS_0_APP_SECRET_FILE adds app_secret_file.
// The ambiguity is reported at apps[0].app_secret_env, whose value is the
// file's, but the file the error names sets one of the two alone: the
// variable that set the other is named. When variables set both, both are.
func TestBothSecretSourcesProblemNamesTheVariable(t *testing.T) {
	t.Parallel()
	const both = "set exactly one of app_secret_env and app_secret_file, not both"
	for _, c := range []struct {
		name, file string
		env        env
		want       string
	}{
		{
			"app_secret_file from a variable",
			"apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, data_center: singapore}\n",
			env{"MAIN_SECRET": "s3cret", "TAGCAST_APPS_0_APP_SECRET_FILE": "/run/secrets/main"},
			"from TAGCAST_APPS_0_APP_SECRET_FILE: " + both,
		},
		{
			"app_secret_env from a variable",
			"apps:\n  - {name: main, app_key: k, app_secret_file: /run/secrets/main, data_center: singapore}\n",
			env{"MAIN_SECRET": "s3cret", "TAGCAST_APPS_0_APP_SECRET_ENV": "MAIN_SECRET"},
			"from TAGCAST_APPS_0_APP_SECRET_ENV: " + both,
		},
		{
			"both from variables",
			"apps:\n  - {name: main, app_key: k, data_center: singapore}\n",
			env{"MAIN_SECRET": "s3cret", "TAGCAST_APPS_0_APP_SECRET_ENV": "MAIN_SECRET", "TAGCAST_APPS_0_APP_SECRET_FILE": "/run/secrets/main"},
			"from TAGCAST_APPS_0_APP_SECRET_ENV and TAGCAST_APPS_0_APP_SECRET_FILE: " + both,
		},
		{
			"both in the file",
			"apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, app_secret_file: /run/secrets/main, data_center: singapore}\n",
			env{"MAIN_SECRET": "s3cret"},
			both,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustLoad(t, c.file, c.env, files{"/run/secrets/main": "s3cret\n"})
			want := []Problem{{Path: "apps[0].app_secret_env", Rule: c.want}}
			if diff := cmp.Diff(want, validateProblems(t, cfg)); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEmptiedHostsProblemNamesTheVariable: a variable set but empty sets
// its key to "", so TAGCAST_APPS_0_HOSTS= (a compose file's ${HOSTS} with
// HOSTS unset) empties the hosts the file gives. "data_center: required
// unless hosts is set" then names the variable: the file does set hosts.
// So does a flag that empties them, and a variable that emptied
// app_secret_file where app_secret_env is required.
func TestEmptiedHostsProblemNamesTheVariable(t *testing.T) {
	t.Parallel()
	const dcRule = "required unless hosts is set: one of beijing, singapore, singapore-b, north-america, saudi-arabia"
	file := "apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, hosts: ['http://127.0.0.1:9001']}\n"

	cfg := mustLoad(t, file, env{"MAIN_SECRET": "s3cret", "TAGCAST_APPS_0_HOSTS": ""}, nil)
	want := []Problem{{Path: "apps[0].data_center", Rule: "from TAGCAST_APPS_0_HOSTS: " + dcRule}}
	if diff := cmp.Diff(want, validateProblems(t, cfg)); diff != "" {
		t.Errorf("hosts emptied by a variable: Validate (-want +got):\n%s", diff)
	}

	for _, c := range []struct{ flag, want string }{
		{"--hosts", "from --hosts: " + dcRule},
		{"", "from the command-line flag of apps[0].hosts: " + dcRule},
	} {
		cfg := mustLoad(t, file, env{"MAIN_SECRET": "s3cret"}, nil)
		if err := cfg.SetFromFlag("apps[0].hosts", "", c.flag); err != nil {
			t.Fatal(err)
		}
		want := []Problem{{Path: "apps[0].data_center", Rule: c.want}}
		if diff := cmp.Diff(want, validateProblems(t, cfg)); diff != "" {
			t.Errorf("hosts emptied by flag %q: Validate (-want +got):\n%s", c.flag, diff)
		}
	}

	cfg = mustLoad(t, "apps:\n  - {name: main, app_key: k, app_secret_file: /run/secrets/main, data_center: beijing}\n",
		env{"TAGCAST_APPS_0_APP_SECRET_FILE": ""}, files{"/run/secrets/main": "s3cret\n"})
	want = []Problem{{Path: "apps[0].app_secret_env",
		Rule: "from TAGCAST_APPS_0_APP_SECRET_FILE: required: set app_secret_env (a variable holding the App Secret) or app_secret_file"}}
	if diff := cmp.Diff(want, validateProblems(t, cfg)); diff != "" {
		t.Errorf("app_secret_file emptied by a variable: Validate (-want +got):\n%s", diff)
	}
}

// TestOtherKeyProblemNamesTheVariable: a rule that compares two keys names
// the variable that set the other one: worker.lease against an app's
// timeout, a name or App Key given twice.
func TestOtherKeyProblemNamesTheVariable(t *testing.T) {
	t.Parallel()
	file := "apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, data_center: beijing}\n" +
		"  - {name: second, app_key: k2, app_secret_env: MAIN_SECRET, data_center: beijing}\n" +
		"worker: {lease: 1m, attempt_budget: 2m, shutdown_timeout: 2m}\n"
	cfg := mustLoad(t, file, env{
		"MAIN_SECRET":            "s3cret",
		"TAGCAST_APPS_0_TIMEOUT": "45s",
		"TAGCAST_APPS_0_NAME":    "second",
		"TAGCAST_APPS_0_APP_KEY": "k2",
	}, nil)
	got := map[string]string{}
	for _, p := range validateProblems(t, cfg) {
		got[p.Path] = p.Rule
	}
	for path, prefix := range map[string]string{
		"worker.lease":    "from TAGCAST_APPS_0_TIMEOUT: must be longer than 5s before the call, apps[0].timeout 45s",
		"apps[1].name":    `from TAGCAST_APPS_0_NAME: duplicate app name "second" (also apps[0])`,
		"apps[1].app_key": "from TAGCAST_APPS_0_APP_KEY: same App Key as apps[0]",
	} {
		if !strings.HasPrefix(got[path], prefix) {
			t.Errorf("%s: %q, want it to start %q", path, got[path], prefix)
		}
	}
}

// TestEnvOnlyAppNamesItsVariablesOnce: the variables that alone define an
// app are named once, as such, though one of them set a key the rule is
// about.
func TestEnvOnlyAppNamesItsVariablesOnce(t *testing.T) {
	t.Parallel()
	file := "apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, data_center: singapore}\n"
	cfg, _ := load(t, file, env{"MAIN_SECRET": "s3cret", "TAGCAST_APPS_1_HOSTS": ""}, nil)
	if cfg == nil || len(cfg.Apps) != 2 {
		t.Fatalf("Load: want apps[1] added")
	}
	for _, p := range validateProblems(t, cfg) {
		if p.Path == "apps[1].data_center" {
			want := "apps[1] exists only because of TAGCAST_APPS_1_HOSTS: required unless hosts is set: one of beijing, singapore, singapore-b, north-america, saudi-arabia"
			if p.Rule != want {
				t.Errorf("%s: %q, want %q", p.Path, p.Rule, want)
			}
			return
		}
	}
	t.Error("no problem at apps[1].data_center")
}

// TestFileListItemKeepsItsIndex: an item of the file's hosts that is not a
// single value is reported at its index and dropped; the items after it
// keep theirs in Validate's problems, duplicates included. Otherwise the
// file's hosts[2] was reported at hosts[1], the index Load blamed on the
// mapping, and `tagcast config check`, which keeps only Validate's problems
// at paths Load did not report, never showed it. Hosts a variable sets
// anew are numbered as the variable lists them.
func TestFileListItemKeepsItsIndex(t *testing.T) {
	t.Parallel()
	file := "apps:\n  - name: main\n    app_key: k\n    app_secret_env: MAIN_SECRET\n" +
		"    hosts: ['http://127.0.0.1:9001', {url: 'http://127.0.0.1:9002'}, 'ftp://127.0.0.1:9003', [x], 'http://127.0.0.1:9001/']\n"
	cfg, err := load(t, file, env{"MAIN_SECRET": "s3cret"}, nil)
	var lve *ValidationError
	if !errors.As(err, &lve) || cfg == nil {
		t.Fatalf("Load = %v, want the refused items reported", err)
	}
	wantLoad := []Problem{
		{Path: "apps[0].hosts[1]", Rule: "must be a single value, got a mapping (line 5)"},
		{Path: "apps[0].hosts[3]", Rule: "must be a single value, got a list (line 5)"},
	}
	if diff := cmp.Diff(wantLoad, lve.Problems); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	wantValidate := []Problem{
		{Path: "apps[0].hosts[2]", Rule: `must be an absolute http:// or https:// URL, got scheme "ftp"`},
		{Path: "apps[0].hosts[4]", Rule: "duplicate of hosts[0] (the same host, spelt differently)"},
	}
	got := validateProblems(t, cfg)
	if diff := cmp.Diff(wantValidate, got); diff != "" {
		t.Errorf("Validate (-want +got):\n%s", diff)
	}
	for _, p := range got {
		if slices.ContainsFunc(lve.Problems, func(r Problem) bool { return r.Path == p.Path }) {
			t.Errorf("Validate's %v is at a path Load reported: a checker drops it", p)
		}
	}

	cfg, _ = load(t, file, env{"MAIN_SECRET": "s3cret", "TAGCAST_APPS_0_HOSTS": "http://127.0.0.1:9001,ftp://127.0.0.1:9003"}, nil)
	want := []Problem{{Path: "apps[0].hosts[1]", Rule: `from TAGCAST_APPS_0_HOSTS: must be an absolute http:// or https:// URL, got scheme "ftp"`}}
	if diff := cmp.Diff(want, validateProblems(t, cfg)); diff != "" {
		t.Errorf("hosts from a variable: Validate (-want +got):\n%s", diff)
	}
}
