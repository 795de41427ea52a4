package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzEnvOverrides fuzzes the TAGCAST_* environment overrides through
// Load's WithLookupEnv seam. To fuzz:
//
//	go test -run '^$' -fuzz '^FuzzEnvOverrides$' -fuzztime 60s ./config/
//
// An input is a base file (envBases, by index) and an environment, one
// NAME=VALUE a line.

// envBases are the files under the overrides: none, one app, and two apps
// with a URL and worker section. None holds a secret, so that every secret
// an input carries comes from the environment.
var envBases = []string{
	"",
	"apps:\n  - name: main\n    app_key: main-key\n    app_secret_env: MAIN_SECRET\n    data_center: singapore\n",
	"redis: {url: 'redis://cache:6379/0'}\ndatabase: {url: 'postgres://tagcast@db:5432/tagcast'}\n" +
		"worker: {concurrency: 4, lease: 3m}\n" +
		"apps:\n  - {name: a, app_key: ka, app_secret_file: /run/tagcast/app-secret, hosts: ['http://127.0.0.1:9001']}\n" +
		"  - {name: b, app_key: kb, app_secret_env: B_SECRET, data_center: beijing, quota: {hourly: 5, daily: 50}}\n",
}

// envFuzzSecretFile is what /run/tagcast/app-secret holds (trimmed).
const envFuzzSecretFile = "fileSecret-Q7w"

// loadEnv loads base (no file when "") with the environment e.
func loadEnv(base string, e env) (*Config, error) {
	fsys := files{"/run/tagcast/app-secret": "  " + envFuzzSecretFile + "\n", "/run/tagcast/empty": "\n"}
	path := ""
	if base != "" {
		fsys["tagcast.yaml"] = base
		path = "tagcast.yaml"
	}
	return Load(path, WithLookupEnv(e.lookup), WithReadFile(fsys.read))
}

// parseEnviron reads one NAME=VALUE a line; the last of a name wins.
func parseEnviron(text string) env {
	e := env{}
	for line := range strings.Lines(text) {
		name, value, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		if ok && name != "" {
			e[name] = value
		}
	}
	return e
}

// environOf is e as os.Environ gives it, sorted.
func environOf(e env) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(e)) {
		out = append(out, name+"="+e[name])
	}
	return out
}

func withVar(e env, name, value string) env {
	out := maps.Clone(e)
	out[name] = value
	return out
}

func withoutVar(e env, name string) env {
	out := maps.Clone(e)
	delete(out, name)
	return out
}

// envTexts is everything a user or a log may be shown of a load: Load's
// error, Validate's (with and without secrets), the redacted dump (as
// printed and as JSON), Settings (values quoted and unquoted) and the
// unknown variables.
func envTexts(cfg *Config, loadErr error, e env) string {
	var b strings.Builder
	b.WriteString(errText(loadErr) + "\n")
	if cfg == nil {
		return b.String()
	}
	b.WriteString(errText(cfg.Validate()) + "\n")
	b.WriteString(errText(cfg.ValidateWithoutSecrets()) + "\n")
	red := cfg.Redacted()
	fmt.Fprintln(&b, red)
	if js, err := json.Marshal(red); err == nil {
		b.Write(js)
	}
	for _, s := range cfg.Settings() {
		b.WriteString("\n" + s.Path + " " + s.Value + " " + s.Source)
		if u, err := strconv.Unquote(s.Value); err == nil {
			b.WriteString(" " + u)
		}
	}
	b.WriteString("\n" + strings.Join(cfg.UnknownEnv(environOf(e)), " "))
	return b.String()
}

// containsSecret reports whether text holds s as itself or as %q quotes it
// (the "[redacted]" marker is no part of text).
func containsSecret(text, s string) bool {
	text = redactedMark(text)
	q := strconv.Quote(s)
	return strings.Contains(text, s) || strings.Contains(text, q[1:len(q)-1])
}

// neutral is value with every character but ',' and white space replaced by
// one lower-case letter that secret does not hold ("" when none is left):
// the same shape (a list of tokens stays one, a pasted name still looks
// pasted), without the secret.
func neutral(value, secret string) string {
	for _, r := range "zqjxkvw" {
		if strings.ContainsRune(strings.ToLower(secret), r) {
			continue
		}
		return strings.Map(func(c rune) rune {
			if c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				return c
			}
			return r
		}, value)
	}
	return ""
}

// envSecret is a secret an input gives: an App Secret or admin token the
// variable carrier holds, or the value carrier gives an *_env or
// app_secret_file key that may be a secret pasted in place of a name.
type envSecret struct {
	what, value, carrier string
}

// ownListText is a comma-separated list as the documentation describes
// it: items trimmed, empty ones dropped.
func ownListText(raw string) []string {
	var out []string
	for _, item := range strings.Split(raw, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// readsBack says why the key v, set from raw, does not hold raw's value
// ("" when it does).
func readsBack(v reflect.Value, raw string) string {
	t := v.Type()
	switch {
	case t == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Sprintf("accepted %q, which is no duration", raw)
		}
		if got := time.Duration(v.Int()); got != d {
			return fmt.Sprintf("holds %s, want %s", got, d)
		}
	case t.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Sprintf("accepted %q, which is no integer", raw)
		}
		if got := int(v.Int()); got != n {
			return fmt.Sprintf("holds %d, want %d", got, n)
		}
	case t.Kind() == reflect.String:
		if got := v.String(); got != raw {
			return fmt.Sprintf("holds %q, want %q", got, raw)
		}
	case t.Kind() == reflect.Slice:
		got := v.Interface().([]string)
		if want := ownListText(raw); !slices.Equal(got, want) {
			return fmt.Sprintf("holds %q, want %q", got, want)
		}
	default:
		return "is of a type no override can set"
	}
	return ""
}

func settingsByPath(c *Config) map[string]Setting {
	out := map[string]Setting{}
	for _, s := range c.Settings() {
		out[s.Path] = s
	}
	return out
}

var appVarRE = regexp.MustCompile(`^TAGCAST_APPS_([0-9]+)_`)

// FuzzEnvOverrides: Load never panics whatever the environment, and
//
//   - each problem Load reports comes from a variable, which it names
//     ("from TAGCAST_X: ...");
//   - a TAGCAST_ variable that names a key is either applied (the key holds
//     the value as the documentation reads it, and its Source is "env
//     TAGCAST_X") or refused by a problem naming it; a refused one changes
//     nothing: the configuration is the one loaded without it, key for key;
//   - every other TAGCAST_ variable is reported: by UnknownEnv, or by Load as
//     an app past the next index, unless the configuration names it for a
//     secret; UnknownEnv reports no variable that names a key or a secret;
//   - a problem Validate finds with a value a variable set names that
//     variable;
//   - no App Secret or admin token from the environment, no password of a
//     URL set by a variable, and no name given an *_env or app_secret_file
//     key that may be a secret pasted there, is in any error, the redacted
//     dump, Settings or UnknownEnv (unless the same text without that secret
//     holds it too).
func FuzzEnvOverrides(f *testing.F) {
	seeds := []struct {
		base    uint8
		environ string
	}{
		{1, "TAGCAST_APPS_0_APP_KEY=env-key\nTAGCAST_WORKER_CONCURRENCY=8\nTAGCAST_LOG_LEVEL=debug\nMAIN_SECRET=m4in-Secret\n"},
		{1, "MAIN_SECRET= m4in-Secret\n\nTAGCAST_APPS_1_NAME=second\nTAGCAST_APPS_1_APP_KEY=k2\nTAGCAST_APPS_1_APP_SECRET_ENV=SECOND_SECRET\n" +
			"SECOND_SECRET=  s3cond-Secret \nTAGCAST_APPS_1_HOSTS=http://127.0.0.1:9001, http://127.0.0.1:9002,\n"},
		{0, "TAGCAST_APPS_0_NAME=main\nTAGCAST_APPS_0_APP_KEY=k\nTAGCAST_APPS_0_APP_SECRET_FILE=/run/tagcast/app-secret\n" +
			"TAGCAST_APPS_0_DATA_CENTER=singapore\nTAGCAST_APPS_0_QUOTA_HOUR_WINDOW=clock\nTAGCAST_APPS_0_QUOTA_TIMEZONE=UTC\n" +
			"TAGCAST_APPS_1_NAME=empty\nTAGCAST_APPS_1_APP_KEY=k1\nTAGCAST_APPS_1_APP_SECRET_FILE=/run/tagcast/empty\nTAGCAST_APPS_1_DATA_CENTER=beijing\n"},
		{2, "TAGCAST_WORKER_LEASE=1m30s\nTAGCAST_SCHEDULER_INTERVAL=fast\nTAGCAST_APPS_0_TIMEOUT= 5s \nTAGCAST_APPS_1_TIMEOUT=1d\n" +
			"TAGCAST_WORKER_BACKOFF_BASE=-1s\nTAGCAST_WORKER_SHUTDOWN_TIMEOUT=0\n"},
		{2, "TAGCAST_WORKER_CONCURRENCY=eight\nTAGCAST_APPS_1_QUOTA_DAILY=99999999999999999999\nTAGCAST_DATABASE_MAX_OPEN_CONNS=0x10\n" +
			"TAGCAST_APPS_0_QUOTA_HOURLY= +3\nTAGCAST_WORKER_BACKOFF_MAX_ATTEMPTS=true\nTAGCAST_METRICS_ADDR=false\n"},
		{1, "TAGCAST_REDIS_URL=redis://:r3dis-Pw@cache:6379/0\nTAGCAST_DATABASE_URL=postgres://tagcast:db-Pw%2F1@db:5432/tagcast\n" +
			"TAGCAST_ADMIN_SERVER=http://admin:srv-Pw@127.0.0.1:8080\nTAGCAST_ADMIN_ADDR=u:addr-Pw@127.0.0.1:8080\n" +
			"TAGCAST_METRICS_ADDR=redis://:metr-Pw@h:1\n"},
		{0, "TAGCAST_ADMIN_TOKENS=tok-One, tok-Two\nTAGCAST_ADMIN_TOKEN= tok-One\nTAGCAST_ADMIN_TOKENS_ENV=MY_TOKENS\nMY_TOKENS=other-Tok,\n"},
		{1, "TAGCAST_APPS_0_APP_SECRET_ENV=hunter2-pasted\nTAGCAST_ADMIN_TOKEN_ENV=pasted token\nTAGCAST_ADMIN_TOKENS_ENV=lowerpasted\n"},
		{2, "TAGCAST_APPS_0_APP_SECRET_FILE=pastedsecret\nTAGCAST_APPS_1_APP_SECRET_ENV=\nTAGCAST_APPS_1_APP_SECRET_FILE=/run/tagcast/nowhere.txt\n"},
		{1, "TAGCAST_REDIS_ULR=redis://x\nTAGCAST_APPS_3_NAME=far\nTAGCAST_APPS_3_APP_KEY=far-key\nTAGCAST_APPS_01_NAME=zero\n" +
			"TAGCAST_APPS_20_APP_KEY=x\nTAGCAST_apps_0_name=y\nTAGCAST_SIMULATED_CLOCK=1\nTAGCAST_=\nTAGCAST_APPS_0=x\n"},
		{2, "TAGCAST_REDIS_URL=\nTAGCAST_APPS_0_HOSTS=\nTAGCAST_LOG_FORMAT=console\nTAGCAST_APPS_1_DATA_CENTER=\nTAGCAST_ADMIN_TOKENS_ENV=\n"},
		{0, "TAGCAST_APPS_1_NAME=gap\nTAGCAST_APPS_0_TIMEOUT=soon\nTAGCAST_REDIS_URL=redis-sentinel://:s3nt-Pw@a:1,b:2?master=m&sentinel_password=sp-Pw\n"},
	}
	for _, s := range seeds {
		f.Add(s.base, s.environ)
	}
	f.Fuzz(func(t *testing.T, baseIndex uint8, environ string) {
		base := envBases[int(baseIndex)%len(envBases)]
		e := parseEnviron(environ)
		cfg, err := loadEnv(base, e)
		var ve *ValidationError
		switch {
		case cfg == nil:
			t.Fatalf("Load of a valid file with %q: %v, without the configuration", environ, err)
		case err != nil && !asValidationError(err, &ve):
			t.Fatalf("Load with %q: %v, not a *ValidationError", environ, err)
		}
		var problems []Problem
		if ve != nil {
			problems = ve.Problems
		}

		// Each of Load's problems names a variable that is set.
		refused := map[string]bool{}
		for _, p := range problems {
			rest, ok := strings.CutPrefix(p.Rule, "from ")
			name, _, ok2 := strings.Cut(rest, ": ")
			if _, set := e[name]; !ok || !ok2 || !set {
				t.Fatalf("Load with %q: problem %q names no variable that is set", environ, p)
			}
			refused[name] = true
		}

		leafByEnv := map[string]leaf{}
		for _, lf := range cfg.leaves() {
			leafByEnv[lf.env] = lf
		}
		secretVars := map[string]bool{cfg.Admin.TokensEnv: true, cfg.Admin.TokenEnv: true}
		for _, a := range cfg.Apps {
			secretVars[a.AppSecretEnv] = true
		}
		delete(secretVars, "")
		unknown := map[string]bool{}
		for _, name := range cfg.UnknownEnv(environOf(e)) {
			if _, set := e[name]; !set || !strings.HasPrefix(name, EnvPrefix+"_") {
				t.Fatalf("UnknownEnv with %q reports %q, which is no TAGCAST_ variable that is set", environ, name)
			}
			unknown[name] = true
		}
		problemAt := func(path string) bool {
			return slices.ContainsFunc(problems, func(p Problem) bool { return p.Path == path })
		}

		var defaults map[string]Setting // every key's default, apps included
		for _, name := range slices.Sorted(maps.Keys(e)) {
			if !strings.HasPrefix(name, EnvPrefix+"_") {
				continue
			}
			raw := e[name]
			lf, isKey := leafByEnv[name]
			switch {
			case isKey && unknown[name]:
				t.Fatalf("with %q: UnknownEnv reports %s, which sets %s", environ, name, lf.path)
			case secretVars[name] && unknown[name]:
				t.Fatalf("with %q: UnknownEnv reports %s, which the configuration names for a secret", environ, name)
			case isKey && !refused[name]:
				if src := cfg.Source(lf.path); src != "env "+name {
					t.Fatalf("with %q: %s accepted, but %s's source is %q", environ, name, lf.path, src)
				}
				if why := readsBack(lf.v, raw); why != "" {
					t.Fatalf("with %q: %s=%q accepted, but %s %s", environ, name, raw, lf.path, why)
				}
			case isKey:
				// Refused: the configuration is the one loaded without it.
				if src := cfg.Source(lf.path); src == "env "+name {
					t.Fatalf("with %q: %s refused, but %s's source is %q", environ, name, lf.path, src)
				}
				cfg2, _ := loadEnv(base, withoutVar(e, name))
				got, want := settingsByPath(cfg), settingsByPath(cfg2)
				if _, ok := want[lf.path]; !ok {
					// The app is there for this variable alone: it has
					// every default.
					if defaults == nil {
						d := Default()
						for range cfg.Apps {
							d.Apps = append(d.Apps, DefaultApp())
						}
						defaults = settingsByPath(d)
					}
					if got[lf.path] != defaults[lf.path] {
						t.Fatalf("with %q: %s refused, but %s = %+v, want the default %+v", environ, name, lf.path, got[lf.path], defaults[lf.path])
					}
				}
				for path, w := range want {
					if g, ok := got[path]; ok && g != w {
						t.Fatalf("with %q: %s refused, yet %s = %+v, and %+v without it", environ, name, path, g, w)
					}
				}
			case refused[name], unknown[name], secretVars[name]:
			default:
				// An app's key past the next index: Load names the
				// index (and the first variable it found there).
				if m := appVarRE.FindStringSubmatch(name); m != nil && problemAt("apps["+m[1]+"]") {
					continue
				}
				t.Fatalf("with %q: %s=%q is neither applied, refused nor reported", environ, name, raw)
			}
		}

		// Validate: a problem with a value a variable set names it, and so
		// does one of an app past the file's (only variables define it).
		fileCfg, _ := loadEnv(base, env{})
		fileApps := len(fileCfg.Apps)
		var vve *ValidationError
		if asValidationError(cfg.Validate(), &vve) {
			for _, p := range vve.Problems {
				src := cfg.Source(p.Path)
				if i := strings.LastIndexByte(p.Path, '['); src == "default" && strings.HasSuffix(p.Path, "]") && i > 0 {
					src = cfg.Source(p.Path[:i]) // an item of a list
				}
				if name, ok := strings.CutPrefix(src, "env "); ok && !strings.Contains(p.Rule, name) {
					t.Fatalf("with %q: Validate's problem %q, with a value %s set, does not name it", environ, p, name)
				}
				if n, ok := appOf(p.Path); ok && n >= fileApps && !strings.Contains(p.Rule, fmt.Sprintf("%s_APPS_%d_", EnvPrefix, n)) {
					t.Fatalf("with %q: Validate's problem %q, of an app only variables define, names none", environ, p)
				}
			}
		}

		// Secrets.
		texts := envTexts(cfg, err, e)
		var secrets []envSecret
		addSecret := func(what, value, carrier string) {
			if value != "" && carrier != "" {
				secrets = append(secrets, envSecret{what, value, carrier})
			}
		}
		// A carrier that also sets a key shows its value as that key's.
		carries := func(name string) bool {
			_, isKey := leafByEnv[name]
			_, set := e[name]
			return set && !isKey
		}
		for i, a := range cfg.Apps {
			if a.AppSecretEnv != "" && a.AppSecretFile == "" && carries(a.AppSecretEnv) {
				addSecret(fmt.Sprintf("apps[%d] App Secret", i), a.Secret.Reveal(), a.AppSecretEnv)
			}
			envVar := cfg.EnvVar(fmt.Sprintf("apps[%d].app_secret_env", i))
			if _, set := e[a.AppSecretEnv]; !set && MaybePastedEnvName(a.AppSecretEnv) && e[envVar] == a.AppSecretEnv {
				addSecret(fmt.Sprintf("apps[%d].app_secret_env pasted", i), a.AppSecretEnv, envVar)
			}
			fileVar := cfg.EnvVar(fmt.Sprintf("apps[%d].app_secret_file", i))
			if _, err := loadEnvFile(a.AppSecretFile); err != nil && MaybePastedFileName(a.AppSecretFile) && e[fileVar] == a.AppSecretFile {
				addSecret(fmt.Sprintf("apps[%d].app_secret_file pasted", i), a.AppSecretFile, fileVar)
			}
			if a.Secret.Reveal() == envFuzzSecretFile && !strings.Contains(environ, envFuzzSecretFile) && containsSecret(texts, envFuzzSecretFile) {
				t.Fatalf("with %q: the App Secret of apps[%d]'s file is shown: %s", environ, i, texts)
			}
		}
		if carries(cfg.Admin.TokensEnv) {
			for _, tok := range cfg.Admin.Tokens {
				addSecret("admin token (server)", tok.Reveal(), cfg.Admin.TokensEnv)
			}
		}
		if carries(cfg.Admin.TokenEnv) {
			addSecret("admin token (CLI)", cfg.Admin.Token.Reveal(), cfg.Admin.TokenEnv)
		}
		for _, key := range []struct{ path, name string }{
			{"admin.tokens_env", cfg.Admin.TokensEnv}, {"admin.token_env", cfg.Admin.TokenEnv},
		} {
			envVar := cfg.EnvVar(key.path)
			if _, set := e[key.name]; !set && MaybePastedEnvName(key.name) && e[envVar] == key.name {
				addSecret(key.path+" pasted", key.name, envVar)
			}
		}
		for _, s := range secrets {
			if !containsSecret(texts, s.value) {
				continue
			}
			n := neutral(e[s.carrier], s.value)
			if n == "" {
				continue
			}
			cfg2, err2 := loadEnv(base, withVar(e, s.carrier, n))
			if !containsSecret(envTexts(cfg2, err2, withVar(e, s.carrier, n)), s.value) {
				t.Fatalf("with %q: the %s %q (from %s) is shown: %s", environ, s.what, s.value, s.carrier, texts)
			}
		}

		// Passwords of URLs set by a variable.
		for _, lf := range cfg.leaves() {
			name, ok := strings.CutPrefix(cfg.Source(lf.path), "env ")
			if !ok {
				continue
			}
			textWith := func(value string) string {
				cfg2, err2 := loadEnv(base, withVar(e, name, value))
				return envTexts(cfg2, err2, withVar(e, name, value))
			}
			switch {
			case isURLKey(lf.path):
				checkNoPassword(t, "with "+strconv.Quote(environ)+": "+lf.path+" from "+name, e[name], texts, textWith)
			case strings.HasSuffix(lf.path, ".hosts"):
				for _, h := range lf.v.Interface().([]string) {
					checkNoPassword(t, "with "+strconv.Quote(environ)+": "+lf.path+" from "+name, h, texts, func(r string) string {
						return textWith(strings.Replace(e[name], h, r, 1))
					})
				}
			}
		}
	})
}

// loadEnvFile reads name as loadEnv's file system does.
func loadEnvFile(name string) ([]byte, error) {
	return files{"/run/tagcast/app-secret": "x", "/run/tagcast/empty": "\n"}.read(name)
}

func asValidationError(err error, ve **ValidationError) bool { return errors.As(err, ve) }
