package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// A password given as a query value (sentinel_password, PostgreSQL's
// ?password=) that holds an unencoded '#' is cut there by url.Parse: the
// rest of it becomes the URL's fragment. Validate refuses a '#' in those
// URLs without quoting it, and RedactURL hides a fragment after a secret
// parameter. Was: the fragment was shown as written by config check, the
// JSON dump and the store's connection error, the shape ecaa903 closed for
// an unencoded '&' (found by a review).
func TestQueryPasswordTailAfterHashIsNeverShown(t *testing.T) {
	t.Parallel()
	const tail = "Zq9TAILofPW"
	for _, tc := range []struct{ env, raw string }{
		{"TAGCAST_REDIS_URL", "redis-sentinel://:pw@s1,s2/0?master=mymaster&sentinel_password=ab#" + tail},
		{"TAGCAST_DATABASE_URL", "postgres://db.internal:5432/tagcast?user=tagcast&password=ab#" + tail},
	} {
		vars := map[string]string{tc.env: tc.raw}
		cfg, err := Load("", WithLookupEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		if err == nil || strings.Contains(err.Error(), tail) || !strings.Contains(err.Error(), "'#'") {
			t.Errorf("%s: Validate = %v; want the unencoded '#' refused, the text after it not shown", tc.env, err)
		}
		for _, st := range cfg.Settings() {
			if strings.Contains(st.Value, tail) {
				t.Errorf("%s: Settings (config check) shows part of the password: %s = %s", tc.env, st.Path, st.Value)
			}
		}
		data, err := json.Marshal(cfg.Redacted())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), tail) {
			t.Errorf("%s: Redacted dump shows part of the password", tc.env)
		}
		if got := RedactURL(tc.raw); strings.Contains(got, tail) {
			t.Errorf("RedactURL(%s) = %s: the password's tail after '#' is shown", tc.env, got)
		}
	}
}
