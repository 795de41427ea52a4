package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRedactURLPasswordWithQuestionMark: an operator who pastes a
// password holding a raw '?' (the very case the validation rule "percent-
// encode special characters in the password" is about) must not see the
// password in the redacted dump `config check -o json` prints.
func TestRedactURLPasswordWithQuestionMark(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"postgres://bob:DBP?xx3@db.example:5432/tagcast",
		"redis://:RPW?abc@127.0.0.1:6379/0",
		"redis://u:RPW#abc@127.0.0.1:6379/0",
		"postgres://bob:DBP?xx3@db.example:5432/tagcast?sslmode=disable",
	} {
		got := RedactURL(raw)
		for _, part := range []string{"DBP", "xx3", "RPW", "abc"} {
			if strings.Contains(got, part) {
				t.Errorf("RedactURL(%q) = %q: reveals %q", raw, got, part)
			}
		}
	}
}

// TestRedactedDumpOfInvalidURL: the JSON dump of a config whose URLs
// do not parse must not hold their passwords either.
func TestRedactedDumpOfInvalidURL(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"TAGCAST_DATABASE_URL": "postgres://bob:DBPASS?9x@db.example/tagcast",
		"TAGCAST_REDIS_URL":    "redis://:REDISPASS?7y@cache:6379/0",
	}
	cfg, err := Load("", WithLookupEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(cfg.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"DBPASS", "9x", "REDISPASS", "7y"} {
		if strings.Contains(string(data), s) {
			t.Errorf("Redacted() reveals %q: %s", s, data)
		}
	}
	for _, st := range cfg.Settings() {
		for _, s := range []string{"DBPASS", "REDISPASS"} {
			if strings.Contains(st.Value, s) {
				t.Errorf("Settings() %s reveals %q: %s", st.Path, s, st.Value)
			}
		}
	}
}
