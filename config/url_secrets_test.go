package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A password given as a query value (redis-sentinel's sentinel_password,
// PostgreSQL's ?password=) that holds an unencoded '&' must not have its
// tail shown. Was: the text after the '&' became a parameter name:
// RedactURL printed it as "TAIL=", so `config check` (Settings, and the
// JSON dump) showed it, and for redis.url Validate quoted it as an unknown
// query parameter (found by a review).
func TestQueryPasswordWithAmpersandIsNeverShown(t *testing.T) {
	t.Parallel()
	const tail = "Zq9TAILofPW"
	for _, tc := range []struct{ env, raw string }{
		{"TAGCAST_REDIS_URL", "redis-sentinel://:pw@s1,s2/0?master=mymaster&sentinel_password=ab&" + tail},
		{"TAGCAST_DATABASE_URL", "postgres://db.internal:5432/tagcast?user=tagcast&password=ab&" + tail},
	} {
		vars := map[string]string{tc.env: tc.raw}
		cfg, err := Load("", WithLookupEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil && strings.Contains(err.Error(), tail) {
			t.Errorf("%s: Validate error shows part of the password: %v", tc.env, err)
		}
		for _, st := range cfg.Settings() {
			if strings.Contains(st.Value, tail) {
				t.Errorf("%s: Settings shows part of the password: %s = %s", tc.env, st.Path, st.Value)
			}
		}
		data, err := json.Marshal(cfg.Redacted())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), tail) {
			t.Errorf("%s: Redacted dump shows part of the password: %s", tc.env, data)
		}
	}
}

// apps[].hosts and admin.server refuse credentials ("must not contain
// credentials"), and a password with an unencoded '/', which ends the host
// early and is taken for a path: "https://gw:12/S3CRET@push.example.com"
// parses as host "gw" port 12, path "/S3CRET@push.example.com". Was:
// accepted (found by a review): the push client called another host than
// meant, with the password in every request line and in Go's transport
// errors, which it keeps in its errors and logs; the CLI sent the admin
// token to that other host. redis.url and database.url refused the shape
// already (passwordSpilled).
func TestHTTPURLWithPasswordSpilledIntoThePathIsRefused(t *testing.T) {
	t.Parallel()
	cfg := Default()
	app := DefaultApp()
	app.Name, app.AppKey, app.Secret = "main", "k", NewSecret("s")
	app.Hosts = []string{"https://gw:12/S3CRET@push.example.com"}
	cfg.Apps = []App{app}
	cfg.Admin.Server = "https://ops:12/S3CRET@admin.example.com"
	err := cfg.Validate()
	var ve *ValidationError
	got := map[string]bool{}
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			got[p.Path] = true
		}
	}
	for _, path := range []string{"apps[0].hosts[0]", "admin.server"} {
		if !got[path] {
			t.Errorf("Validate = %v: no problem at %s, a URL whose password spilled past the host (it names another host than meant, and carries the password in its path)", err, path)
		}
	}
}
