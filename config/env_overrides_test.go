package config

import (
	"errors"
	"strings"
	"testing"
)

// TestEnvHostsProblemNamesVariable: a problem Validate finds with a value an
// override set names the variable ("apps[0].data_center: from
// TAGCAST_APPS_0_DATA_CENTER: ..."), since the error starts with the config
// file's name and the file does not hold that value. The hosts of
// TAGCAST_APPS_0_HOSTS are reported at apps[0].hosts[N], an item of the
// list the variable set: the problem names the variable too. (Found by
// FuzzEnvOverrides.)
func TestEnvHostsProblemNamesVariable(t *testing.T) {
	t.Parallel()
	file := "apps:\n  - name: main\n    app_key: k\n    app_secret_env: MAIN_SECRET\n    hosts: ['http://127.0.0.1:9001']\n"
	cfg := mustLoad(t, file, env{
		"MAIN_SECRET":                "s3cret",
		"TAGCAST_APPS_0_HOSTS":       "http://127.0.0.1:9001, http://user:pw@127.0.0.1:9002",
		"TAGCAST_APPS_0_DATA_CENTER": "mars",
	}, nil)
	if got := cfg.Source("apps[0].hosts"); got != "env TAGCAST_APPS_0_HOSTS" {
		t.Fatalf("Source(apps[0].hosts) = %q", got)
	}
	var ve *ValidationError
	if err := cfg.Validate(); !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want *ValidationError", err)
	}
	found := map[string]string{}
	for _, p := range ve.Problems {
		found[p.Path] = p.Rule
	}
	// The scalar override is named, as the control.
	if rule := found["apps[0].data_center"]; !strings.HasPrefix(rule, "from TAGCAST_APPS_0_DATA_CENTER: ") {
		t.Errorf("apps[0].data_center: %q, want it to name TAGCAST_APPS_0_DATA_CENTER", rule)
	}
	rule, ok := found["apps[0].hosts[1]"]
	if !ok {
		t.Fatalf("no problem at apps[0].hosts[1]: %v", ve)
	}
	if want := "from TAGCAST_APPS_0_HOSTS: must not contain credentials"; rule != want {
		t.Errorf("apps[0].hosts[1]: %q, want %q (the host came from the variable, not the file %s)", rule, want, ve.Source)
	}
}

// TestHostsProblemFromFileNamesNoVariable: the list's own source decides;
// hosts the file gives are not blamed on a variable, even when another key
// of the app is overridden.
func TestHostsProblemFromFileNamesNoVariable(t *testing.T) {
	t.Parallel()
	file := "apps:\n  - name: main\n    app_key: k\n    app_secret_env: MAIN_SECRET\n    hosts: ['http://127.0.0.1:9001', 'ftp://127.0.0.1:9002']\n"
	cfg := mustLoad(t, file, env{"MAIN_SECRET": "s3cret", "TAGCAST_APPS_0_TIMEOUT": "5s"}, nil)
	var ve *ValidationError
	if err := cfg.Validate(); !errors.As(err, &ve) || len(ve.Problems) != 1 {
		t.Fatalf("Validate = %v, want one problem", err)
	}
	if p := ve.Problems[0]; p.Path != "apps[0].hosts[1]" || strings.Contains(p.Rule, "TAGCAST_") {
		t.Errorf("Validate: %v, want the file's host at apps[0].hosts[1] without a variable", p)
	}
}

// TestEnvPastedSecretHiddenWhenBothSecretSources: a secret pasted where a
// name belongs is never shown, not in Settings nor in the redacted dump
// (`tagcast config check -o json` prints the dump of an invalid
// configuration too). An operator who reads TAGCAST_APPS_0_APP_SECRET_ENV
// as "the App Secret, from the environment" and sets it to the secret,
// while the file gives app_secret_file, has both sources set: the name is
// hidden all the same, and the ambiguity is still reported. The same for a
// secret pasted into TAGCAST_APPS_0_APP_SECRET_FILE next to a file's
// app_secret_env. (Found by FuzzEnvOverrides.)
func TestEnvPastedSecretHiddenWhenBothSecretSources(t *testing.T) {
	t.Parallel()
	const pasted = "q8ZfT2xkLm4wPasted"
	for _, c := range []struct {
		name, file string
		env        env
		// shown is the other source's name, which is no secret.
		shown string
	}{
		{
			"app_secret_env from the environment",
			"apps:\n  - {name: main, app_key: k, app_secret_file: /run/secrets/main, data_center: singapore}\n",
			env{"TAGCAST_APPS_0_APP_SECRET_ENV": pasted},
			"/run/secrets/main",
		},
		{
			"app_secret_file from the environment",
			"apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, data_center: singapore}\n",
			env{"MAIN_SECRET": "s3cret", "TAGCAST_APPS_0_APP_SECRET_FILE": pasted},
			"MAIN_SECRET",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustLoad(t, c.file, c.env, files{"/run/secrets/main": "s3cret\n"})
			verr := cfg.Validate()
			if verr == nil {
				t.Fatal("Validate accepted both app_secret_env and app_secret_file")
			}
			const both = "set exactly one of app_secret_env and app_secret_file, not both"
			if !strings.Contains(verr.Error(), "apps[0].app_secret_env: ") || !strings.Contains(verr.Error(), both) {
				t.Errorf("Validate: %v, want %q", verr, both)
			}
			for name, text := range shownTexts(t, cfg, verr) {
				if strings.Contains(text, pasted) {
					t.Errorf("%s shows the pasted secret %q:\n%s", name, pasted, text)
				}
				if name != "Validate" && !strings.Contains(text, c.shown) {
					t.Errorf("%s hides %q, which is no secret:\n%s", name, c.shown, text)
				}
			}
		})
	}
}

// TestEnvOnlyAppProblemsNameItsVariables: an override past the file's apps
// adds an app (a whole configuration can come from the environment), so a
// mistyped index (TAGCAST_APPS_1_TIMEOUT for the file's only app) adds one
// with nothing but defaults. Its problems ("apps[1].name: required") are no
// mistake in the file the error names: they say which variables alone
// define the app.
func TestEnvOnlyAppProblemsNameItsVariables(t *testing.T) {
	t.Parallel()
	file := "apps:\n  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, data_center: singapore}\n"
	for _, c := range []struct {
		name    string
		env     env
		because string
	}{
		{"mistyped index", env{"TAGCAST_APPS_1_TIMEOUT": "5s"}, "TAGCAST_APPS_1_TIMEOUT"},
		{"refused value", env{"TAGCAST_APPS_1_TIMEOUT": "1d"}, "TAGCAST_APPS_1_TIMEOUT"},
		{"app from the environment", env{"TAGCAST_APPS_1_NAME": "second", "TAGCAST_APPS_1_DATA_CENTER": "mars"},
			"TAGCAST_APPS_1_NAME, TAGCAST_APPS_1_DATA_CENTER"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.env["MAIN_SECRET"] = "s3cret"
			cfg, err := load(t, file, c.env, nil)
			if cfg == nil || len(cfg.Apps) != 2 {
				t.Fatalf("Load: %v, want apps[1] added", err)
			}
			var ve *ValidationError
			if err := cfg.Validate(); !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want *ValidationError", err)
			}
			want := "apps[1] exists only because of " + c.because + ": required"
			for _, p := range ve.Problems {
				switch {
				case p.Path == "apps[1].app_key":
					if p.Rule != want {
						t.Errorf("%v, want the rule %q", p, want)
					}
				case p.Path == "apps[1].data_center" && c.env["TAGCAST_APPS_1_DATA_CENTER"] != "":
					// Set by its own variable: that one is named.
					if !strings.HasPrefix(p.Rule, "from TAGCAST_APPS_1_DATA_CENTER: ") {
						t.Errorf("%v, want it to name TAGCAST_APPS_1_DATA_CENTER", p)
					}
				case strings.HasPrefix(p.Path, "apps[1]."):
					if !strings.HasPrefix(p.Rule, "apps[1] exists only because of "+c.because+": ") {
						t.Errorf("%v names no variable", p)
					}
				case strings.HasPrefix(p.Path, "apps[0]."):
					t.Errorf("%v: the file's app has no problem", p)
				}
			}
		})
	}
}
