package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// secretWords are the secret values planted by secretConfig; none may appear
// in any rendering of the config.
var secretWords = []string{"S3CRET-app", "TOKEN-one", "TOKEN-two", "TOKEN-cli", "REDISPW", "DBPW", "SSLPW"}

func secretConfig(t *testing.T) *Config {
	t.Helper()
	const file = `apps:
  - {name: main, app_key: k, app_secret_env: MAIN_SECRET, data_center: beijing}
redis: {url: "redis://:REDISPW@cache:6379/0"}
database: {url: "postgres://tagcast:DBPW@db:5432/tagcast?sslpassword=SSLPW&sslmode=require"}
`
	return mustLoad(t, file, env{
		"MAIN_SECRET":          "S3CRET-app",
		"TAGCAST_ADMIN_TOKENS": "TOKEN-one, TOKEN-two",
		"TAGCAST_ADMIN_TOKEN":  "TOKEN-cli",
	}, nil)
}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, w := range secretWords {
		if strings.Contains(text, w) {
			t.Errorf("%s reveals %q:\n%s", what, w, text)
		}
	}
}

func TestSecretRedactsItself(t *testing.T) {
	t.Parallel()
	s := NewSecret("S3CRET-app")
	holder := struct {
		Secret Secret
		List   []Secret
		Map    map[string]Secret
	}{s, []Secret{s}, map[string]Secret{"k": s}}

	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T %v"} {
		assertNoSecret(t, "fmt "+format, fmt.Sprintf(format, s))
		assertNoSecret(t, "fmt "+format+" of a struct", fmt.Sprintf(format, holder))
		assertNoSecret(t, "fmt "+format+" of a pointer", fmt.Sprintf(format, &holder))
	}
	if got := fmt.Sprint(s); got != "[redacted]" {
		t.Errorf("Sprint = %q, want [redacted]", got)
	}
	j, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Secret":"[redacted]","List":["[redacted]"],"Map":{"k":"[redacted]"}}`; string(j) != want {
		t.Errorf("JSON = %s, want %s", j, want)
	}
	y, err := yaml.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "YAML", string(y))
	if !strings.Contains(string(y), "[redacted]") {
		t.Errorf("YAML = %s, want [redacted]", y)
	}
	txt, _ := s.MarshalText()
	assertNoSecret(t, "MarshalText", string(txt))

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", s)
	assertNoSecret(t, "slog", buf.String())

	err = fmt.Errorf("app main: %v: %w", s, errors.New("boom"))
	assertNoSecret(t, "error string", err.Error())

	if s.Reveal() != "S3CRET-app" {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
	if !s.Matches("S3CRET-app") || s.Matches("S3CRET") || (Secret{}).Matches("") {
		t.Errorf("Matches is wrong")
	}
	if !s.Equal(NewSecret("S3CRET-app")) || s.Equal(Secret{}) || !(Secret{}).Equal(Secret{}) {
		t.Errorf("Equal is wrong")
	}
}

func TestConfigDumpsRedactSecrets(t *testing.T) {
	t.Parallel()
	cfg := secretConfig(t)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// The secrets were resolved: they are there, just not printable.
	if cfg.Apps[0].Secret.Reveal() != "S3CRET-app" || len(cfg.Admin.Tokens) != 2 || cfg.Admin.Token.Reveal() != "TOKEN-cli" {
		t.Fatalf("secrets not resolved")
	}
	if !cfg.Admin.Accepts("TOKEN-two") || cfg.Admin.Accepts("TOKEN-cli") || cfg.Admin.Accepts("") {
		t.Errorf("Admin.Accepts is wrong")
	}

	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		assertNoSecret(t, "fmt "+format+" of *Config", fmt.Sprintf(format, cfg))
		assertNoSecret(t, "fmt "+format+" of Config", fmt.Sprintf(format, *cfg))
		assertNoSecret(t, "fmt "+format+" of App", fmt.Sprintf(format, cfg.Apps[0]))
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "json.Marshal(cfg)", string(j))
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "yaml.Marshal(cfg)", string(y))

	rj, err := json.Marshal(cfg.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "Redacted()", string(rj))
	var settings strings.Builder
	for _, s := range cfg.Settings() {
		fmt.Fprintf(&settings, "%s=%s (%s)\n", s.Path, s.Value, s.Source)
	}
	assertNoSecret(t, "Settings()", settings.String())

	// What the dumps do show.
	red := cfg.Redacted()
	if got := red["database"].(map[string]any)["url"]; got != "postgres://tagcast:[redacted]@db:5432/tagcast?sslpassword=[redacted]&sslmode=require" { // as written, in order
		t.Errorf("Redacted database.url = %v", got)
	}
	if got := red["apps"].([]any)[0].(map[string]any)["app_secret"]; got != "[redacted]" {
		t.Errorf("Redacted apps[0].app_secret = %v", got)
	}
	if got := red["admin"].(map[string]any)["tokens"]; got != "[redacted] (2)" {
		t.Errorf("Redacted admin.tokens = %v", got)
	}
	if got := red["apps"].([]any)[0].(map[string]any)["timeout"]; got != "10s" {
		t.Errorf("Redacted apps[0].timeout = %v, want 10s", got)
	}
	want := map[string]Setting{
		"apps[0].app_secret": {Path: "apps[0].app_secret", Value: "[redacted]", Source: "resolved from env MAIN_SECRET"},
		"redis.url":          {Path: "redis.url", Value: `"redis://:[redacted]@cache:6379/0"`, Source: "file"},
		"admin.token":        {Path: "admin.token", Value: "[redacted]", Source: "resolved from env TAGCAST_ADMIN_TOKEN"},
		"apps[0].hosts":      {Path: "apps[0].hosts", Value: "[]", Source: "default"},
		"worker.concurrency": {Path: "worker.concurrency", Value: "20", Source: "default"},
	}
	got := map[string]Setting{}
	for _, s := range cfg.Settings() {
		if _, ok := want[s.Path]; ok {
			got[s.Path] = s
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Settings (-want +got):\n%s", diff)
	}
}

func TestErrorsNeverQuoteURLPasswords(t *testing.T) {
	t.Parallel()
	cfg := secretConfig(t)
	cfg.Redis.URL = "redis://:REDISPW@cache:99999/0"
	cfg.Database.URL = "postgres://tagcast:DBPW%zz@db/x"
	cfg.Apps[0].Hosts = []string{"https://u:S3CRET-app@h"}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted broken URLs")
	}
	assertNoSecret(t, "Validate error", err.Error())
	for _, raw := range []string{"redis-sentinel://:REDISPW@a,b", "redis://:REDISPW%zz@h", "redis://:REDISPW@h/x"} {
		if _, err := ParseRedisURL(raw); err == nil {
			t.Errorf("ParseRedisURL accepted %q", raw)
		} else {
			assertNoSecret(t, "ParseRedisURL error", err.Error())
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":                         "",
		"sqlite://tagcast.db":      "sqlite://tagcast.db",
		"redis://127.0.0.1:6379/0": "redis://127.0.0.1:6379/0",
		"redis://:pw@h:1/0":        "redis://:[redacted]@h:1/0",
		"redis://user:pw@h":        "redis://user:[redacted]@h",
		"redis://user@h":           "redis://user@h",
		"redis-sentinel://:pw@a:1,b:2?master=m&sentinel_password=sp": "redis-sentinel://:[redacted]@a:1,b:2?master=m&sentinel_password=[redacted]",
		"postgres://u:p@ss@h/db":                                     "postgres://u:[redacted]@h/db",
		"postgres://h/db?password=x#frag":                            "postgres://h/db?password=[redacted]#[redacted]",
		"postgres://h/db?%zz":                                        "postgres://h/db?[redacted]",
		"https://api.example.com/prefix":                             "https://api.example.com/prefix",
		// Not URLs (refused by Validate, but shown in its errors and dumps):
		"sqlite::memory:":                          "sqlite::memory:",
		":pw@cache:6379":                           "[redacted]@cache:6379",
		"u:pw@h/db?sslmode=":                       "[redacted]@h/db?sslmode=",
		"host=db user=u password=hunter2 dbname=d": "host=db user=u password=[redacted] dbname=d",
		`password='a b\' c' host=x`:                "password=[redacted] host=x",
		"host=x password='unterminated":            "host=x password=[redacted]",
	}
	for raw, want := range tests {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}
