package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/config"
)

// Was: an unknown key was quoted verbatim in its problem's path,
// so a URL typed in flow style without the space after "url:" (the
// configuration's documented examples use flow mappings: quota: {...},
// log: {...}) puts its password in the error that `tagcast config check`,
// `serve` and every command print. YAML reads `{url:postgres://u:pw@db/x}`
// as one key with no value.
//
// It printed e.g. `database.url:postgres://tagcast:Pw0rdS3cret@db/tagcast:
// unknown key (line 1)`. A key that is not a key name is now never quoted:
// the problem names the section, the key's length and its line.
func TestUnknownKeyNeverQuotesAPasswordTypedIntoIt(t *testing.T) {
	const secret = "Pw0rdS3cret"
	for _, file := range []string{
		"database: {url:postgres://tagcast:" + secret + "@db/tagcast}\n",
		"redis: {url:redis://:" + secret + "@cache:6379/0}\n",
		"apps:\n  - {name: main, app_key: k, app_secret_env:Xq9" + secret + ", data_center: beijing}\n",
	} {
		_, err := config.Load("tagcast.yaml",
			config.WithReadFile(func(string) ([]byte, error) { return []byte(file), nil }),
			config.WithLookupEnv(func(string) (string, bool) { return "", false }))
		var ve *config.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%q: want a *ValidationError (unknown key), got %v", file, err)
		}
		if !strings.Contains(err.Error(), "unknown key") {
			t.Errorf("%q: want an unknown-key problem, got %v", file, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q: the error shows the password:\n  %v", file, err)
		}
	}
}

// Was: the worker's timing rules add an app's timeout to other durations;
// a timeout near the largest duration overflowed those sums and passed
// all three rules (lease, attempt_budget, shutdown_timeout). An app's
// timeout must now be shorter than a run task's timeout less the time
// before the call, whatever the worker's settings.
func TestAppTimeoutLongerThanARunTaskIsRefused(t *testing.T) {
	for _, timeout := range []string{"2562047h47m13s", "4m55s", "1h"} {
		file := "apps:\n  - {name: main, app_key: k, app_secret_env: S, data_center: beijing, timeout: " + timeout + "}\n"
		cfg, err := config.Load("tagcast.yaml",
			config.WithReadFile(func(string) ([]byte, error) { return []byte(file), nil }),
			config.WithLookupEnv(func(k string) (string, bool) { return "secret", k == "S" }))
		if err != nil {
			t.Fatalf("timeout %s: load: %v", timeout, err)
		}
		err = cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "apps[0].timeout") || !strings.Contains(err.Error(), "must be shorter than 4m55s") {
			t.Errorf("timeout %s: want apps[0].timeout refused (must be shorter than 4m55s), got %v", timeout, err)
		}
	}
}

// The Timestamp header's unit (push-api-facts.md: the docs say
// milliseconds, the SDKs send seconds) is set per app, seconds by default,
// from the file or the environment, and reaches the client.
func TestTimestampUnitIsPerAppAndChecked(t *testing.T) {
	load := func(unit string, env map[string]string) (*config.Config, error) {
		file := "apps:\n  - {name: main, app_key: k, app_secret_env: S, data_center: beijing" + unit + "}\n"
		return config.Load("tagcast.yaml",
			config.WithReadFile(func(string) ([]byte, error) { return []byte(file), nil }),
			config.WithLookupEnv(func(k string) (string, bool) {
				if k == "S" {
					return "secret", true
				}
				v, ok := env[k]
				return v, ok
			}))
	}
	for _, tt := range []struct {
		unit string
		env  map[string]string
		want string
	}{
		{"", nil, "seconds"},
		{", timestamp_unit: milliseconds", nil, "milliseconds"},
		{"", map[string]string{"TAGCAST_APPS_0_TIMESTAMP_UNIT": "milliseconds"}, "milliseconds"},
	} {
		cfg, err := load(tt.unit, tt.env)
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			t.Fatalf("%q %v: %v", tt.unit, tt.env, err)
		}
		if got := cfg.Apps[0].ClientConfig().TimestampUnit; got != tt.want {
			t.Errorf("%q %v: the client's unit is %q, want %q", tt.unit, tt.env, got, tt.want)
		}
	}
	cfg, err := load(", timestamp_unit: ms", nil)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), `apps[0].timestamp_unit: must be seconds or milliseconds, got "ms"`) {
		t.Errorf("timestamp_unit ms: %v, want it refused by name", err)
	}
}
