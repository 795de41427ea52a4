package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// An operator who pastes a secret where the name of its variable belongs
// (app_secret_env, admin.tokens_env, admin.token_env) must not see it
// echoed: not in Validate's problems, the settings table, or the redacted
// dump. A conventional upper-case name is shown even when unset (to say
// which variable is missing), and any name whose variable is set is shown.
func TestPastedSecretsInEnvKeysAreNotShown(t *testing.T) {
	const (
		appSecret = "Y1W2MeFwwwRxa0pasted"
		token     = "s3cr3tTokenValue"
		badChars  = "abc$def-ghi/123"
	)
	env := map[string]string{"main_secret_set": "x"}
	load := func(t *testing.T, yaml string) *Config {
		t.Helper()
		cfg, err := Load("tagcast.yaml", WithLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
			WithReadFile(func(string) ([]byte, error) { return []byte(yaml), nil }))
		if err != nil && cfg == nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := load(t, `apps:
  - {name: main, app_key: k, app_secret_env: `+appSecret+`, data_center: singapore}
  - {name: other, app_key: k2, app_secret_env: "`+badChars+`", data_center: singapore}
  - {name: third, app_key: k3, app_secret_env: UNSET_BUT_CONVENTIONAL, data_center: singapore}
  - {name: fourth, app_key: k4, app_secret_env: main_secret_set, data_center: singapore}
admin: {tokens_env: `+token+`, token_env: `+token+`}
`)
	verr := cfg.Validate()
	if verr == nil {
		t.Fatal("Validate accepted unset secrets")
	}
	for name, text := range shownTexts(t, cfg, verr) {
		for _, secret := range []string{appSecret, token, badChars} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q:\n%s", name, secret, text)
			}
		}
		if name != "Validate" && !strings.Contains(text, "main_secret_set") {
			t.Errorf("%s hides a variable that is set:\n%s", name, text)
		}
	}
	if !strings.Contains(verr.Error(), "environment variable UNSET_BUT_CONVENTIONAL is not set") {
		t.Errorf("a conventional unset name is not named: %v", verr)
	}
	if !strings.Contains(verr.Error(), "is it the secret itself?") {
		t.Errorf("the hidden name is not explained: %v", verr)
	}
}

// A secret pasted into app_secret_file names no file: the problem, the
// settings and the dump say so without quoting it. A name that looks like a
// path is quoted, to be found.
func TestPastedSecretInSecretFileIsNotShown(t *testing.T) {
	t.Parallel()
	const pasted = "TopSecretValue99"
	cfg, err := load(t, `apps:
  - {name: main, app_key: k, app_secret_file: `+pasted+`, data_center: singapore}
  - {name: other, app_key: k2, app_secret_file: /run/secrets/other, data_center: singapore}
`, env{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	verr := cfg.Validate()
	if verr == nil {
		t.Fatal("Validate accepted secret files that do not exist")
	}
	for name, text := range shownTexts(t, cfg, verr) {
		if strings.Contains(text, pasted) {
			t.Errorf("%s quotes the pasted secret:\n%s", name, text)
		}
		if !strings.Contains(text, "is it the secret itself?") || !strings.Contains(text, "/run/secrets/other") {
			t.Errorf("%s: want the hidden name explained and the real path named:\n%s", name, text)
		}
	}
}

// shownTexts is all an operator can be shown of cfg: Validate's problems
// (verr), the settings table and the redacted dump, by name.
func shownTexts(t *testing.T, cfg *Config, verr error) map[string]string {
	t.Helper()
	settings, err := json.Marshal(cfg.Settings())
	if err != nil {
		t.Fatal(err)
	}
	dump, err := json.Marshal(cfg.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"Validate": verr.Error(), "Settings": string(settings), "Redacted": string(dump)}
}
