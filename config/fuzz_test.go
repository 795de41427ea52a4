package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Fuzz targets for the URL checks and redaction, and for Load. `go test`
// runs every seed below and every input under testdata/fuzz/ as regression
// tests; to fuzz, one target at a time:
//
//	go test -run '^$' -fuzz '^FuzzRedactURL$' -fuzztime 60s ./config/
//	go test -run '^$' -fuzz '^FuzzParseRedisURL$' -fuzztime 60s ./config/
//	go test -run '^$' -fuzz '^FuzzDatabaseURL$' -fuzztime 60s ./config/
//	go test -run '^$' -fuzz '^FuzzLoad$' -fuzztime 60s ./config/

// urlSeeds are URLs on the edges of ParseRedisURL, checkDatabaseURL and
// RedactURL: every scheme, passwords holding each delimiter raw and
// encoded, sentinel host lists, query parameters, libpq strings.
var urlSeeds = []string{
	"", "x", "://", "redis://", "redis://h", "redis://h:6379/0", "redis://:pw@h:1/0", "redis://user:pw@h",
	"redis://user@h", "redis://u:p:q@h", "redis://u:p@q@h", "redis://u:12/S3CRET@cache:6379/0",
	"redis://u:12?S3CRET@cache:6379/0", "redis://u:12#S3CRET@cache:6379/0", "redis://:RPW?abc@127.0.0.1:6379/0",
	"redis://default:12%2FS3CRET%23x%3Fy@cache:6379/0", "redis://:REDISPW%zz@h", "redis://:REDISPW@cache:99999/0",
	"redis://:pw@h/x", "redis://:pw@h/0?db=1", "redis://:pw@h?password=x", "redis://[::1]:7000/0", "redis://:pw@[::1]/0",
	"redis://:pw@h#frag@x", "redis://:pw@h/a@b", "redis://:pw@h?x@y", "redis://:pw@h#a?b@c", "REDIS://:pw@h",
	"rediss://u:p@cache.example.com:6380/3", "rediss://cache:6380?tls_insecure=true", "rediss://u:9/",
	"redis-socket://", "redis-socket:///run/redis.sock?db=2", "redis-socket://:pw@/run/redis.sock?db=x",
	"redis-socket://u:pw@h/run/redis.sock",
	"redis-sentinel://:pw@a:1,b:2?master=m&sentinel_password=sp", "redis-sentinel://:pw@s1,s2:26380/4?master=mm&sentinel_password=sp",
	"redis-sentinel://a,,b?master=m", "redis-sentinel://u:p@h1,h2/1?master=mymaster&sentinel_password=a@b",
	"redis-sentinel://h1,h2?master=mymaster&sentinel_pasword=x", "redis-sentinel://u:12/", "redis-sentinel://u:pw#x@h?master=m",
	"redis-sentinel://u:p@w@h1:1,[::1]:2/0?master=m", "redis-sentinel://:pw@h?master=m&db=-1",
	"postgres://tagcast:pw@db:5432/tagcast", "postgres://bob:12/S3CRET@db/tagcast", "postgres://bob:DBP?xx3@db.example:5432/tagcast",
	"postgres://tagcast:12?a=S3CRET@db.internal:5432/tagcast", "postgres://db.example.com:5432/tagcast?user=app@server&sslmode=require",
	"postgres://app:pa%2Fss@db.example.com:5432/tagcast?user=app@server&sslmode=require",
	"postgres://tagcast:DBPW@db:5432/tagcast?sslpassword=SSLPW&sslmode=require", "postgres://h/db?password=x#frag",
	"postgres://u:p@ss@h/db", "postgres://tagcast:DBPW%zz@db/x", "postgresql:///tagcast", "postgresql:///tagcast?host=/run/pg",
	"postgres://u:pw@/db?host=/tmp", "postgres://u:pw@h/db?%zz", "postgres://u:pw@h/db?a=b&a=c;d",
	"sqlite://", "sqlite://tagcast.db", "sqlite:///var/lib/tagcast.db", "sqlite://:memory:", "sqlite://file:tc?mode=memory&cache=shared",
	"sqlite://?x", "sqlite://file:?vfs=memdb", "sqlite://u:pw@x.db", "mysql://u:pw@h/db", "http://u:pw@h",
	"user:pw@host", "host=db password=secret", "host=db password='se cret' user=x", "password='unterminated",
	"password = x", "=x", "a b c", "u:p@h:1/0?password=x@y",
}

// redactedMark replaces "[redacted]" in a text searched for a password, so
// that a password such as "act" is not found in the marker itself.
func redactedMark(s string) string { return strings.ReplaceAll(s, redacted, "\x00") }

// userPassword is a password found in the user information of a URL: its
// text as written, at raw[start:end], and its decoded value.
type userPassword struct {
	start, end int
	decoded    string
}

func (p userPassword) texts(raw string) []string {
	var out []string
	for _, s := range []string{raw[p.start:p.end], p.decoded} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// replaced is raw with the password's text replaced by as many letters
// that pw does not hold.
func (p userPassword) replaced(raw, pw string) string {
	m := "Z"
	if strings.Contains(pw, m) {
		m = "Q"
		if strings.Contains(pw, m) {
			m = "J"
		}
	}
	return raw[:p.start] + strings.Repeat(m, p.end-p.start) + raw[p.end:]
}

// without is raw with the password removed ("user:@host").
func (p userPassword) without(raw string) string { return raw[:p.start] + raw[p.end:] }

// urlPasswords finds the passwords of raw's user information the way
// url.Parse does (the authority ends at the first '/', '?' or '#'; the user
// information at its last '@'; the password after the first ':'), and the
// way ParseRedisURL reads a redis-sentinel URL (the authority ends at the
// first '/' or '?').
func urlPasswords(raw string) []userPassword {
	var out []userPassword
	find := func(authEnd func(rest string) int, parsed func(userinfo string) (string, bool)) {
		i := strings.Index(raw, "://")
		if i < 0 {
			return
		}
		rest := raw[i+3:]
		authority := rest[:authEnd(rest)]
		at := strings.LastIndexByte(authority, '@')
		if at < 0 {
			return
		}
		colon := strings.IndexByte(authority[:at], ':')
		if colon < 0 {
			return
		}
		if p, ok := parsed(authority[:at]); ok && p != "" {
			out = append(out, userPassword{start: i + 3 + colon + 1, end: i + 3 + at, decoded: p})
		}
	}
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			find(func(rest string) int {
				if j := strings.IndexAny(rest, "/?#"); j >= 0 {
					return j
				}
				return len(rest)
			}, func(string) (string, bool) { return p, true })
		}
	}
	if strings.HasPrefix(raw, "redis-sentinel://") {
		find(func(rest string) int {
			if j := strings.IndexAny(rest, "/?"); j >= 0 {
				return j
			}
			return len(rest)
		}, func(userinfo string) (string, bool) {
			u, err := url.Parse("redis-sentinel://" + userinfo + "@sentinels")
			if err != nil || u.User == nil {
				return "", false
			}
			return u.User.Password()
		})
	}
	return out
}

// checkNoPassword fails when text (made from raw by f) holds a password of
// raw's user information, unless the same text made from raw without that
// password holds it too, or raw holds it elsewhere.
func checkNoPassword(t *testing.T, what, raw, text string, f func(raw string) string) {
	t.Helper()
	// errPasswordSpilled quotes nothing of the URL (its "%2F" holds a
	// "2" that is no password).
	text = strings.ReplaceAll(redactedMark(text), errPasswordSpilled.Error(), "\x00")
	passwords := urlPasswords(raw)
	for _, p := range passwords {
		stripped := p.without(raw)
		for _, pw := range p.texts(raw) {
			if !strings.Contains(text, pw) || strings.Contains(stripped, pw) {
				continue
			}
			// A password that is also text of the message itself (a "2"
			// of "%2F"): the message for the URL with another password,
			// or none, holds it too.
			excused := false
			for _, q := range passwords {
				if strings.Contains(redactedMark(f(q.without(raw))), pw) || strings.Contains(redactedMark(f(q.replaced(raw, pw))), pw) {
					excused = true
				}
			}
			if !excused {
				t.Fatalf("%s of %q holds its password %q: %q", what, raw, pw, text)
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzRedactURL: RedactURL never panics, and its output never holds the
// password of the URL's user information (as url.Parse or ParseRedisURL
// finds it) unless the password's text is elsewhere in the URL. The same
// for the sentinel password ParseRedisURL finds, and for the Redis and
// Database printers.
func FuzzRedactURL(f *testing.F) {
	for _, s := range urlSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := RedactURL(raw)
		checkNoPassword(t, "RedactURL", raw, out, RedactURL)
		for _, s := range []string{
			fmt.Sprint(Redis{URL: raw}), fmt.Sprintf("%#v", Database{URL: raw}), fmt.Sprintf("%+v", Redis{URL: raw}),
		} {
			checkNoPassword(t, "printed Redis/Database", raw, s, func(r string) string {
				return fmt.Sprint(Redis{URL: r}) + fmt.Sprintf("%#v", Database{URL: r}) + fmt.Sprintf("%+v", Redis{URL: r})
			})
		}
		if b, err := json.Marshal(Database{URL: raw}); err == nil && utf8.ValidString(out) {
			var back map[string]string
			if err := json.Unmarshal(b, &back); err != nil || back["url"] != out {
				t.Fatalf("Database JSON of %q = %s, want url %q", raw, b, out)
			}
		}
		if rt, err := ParseRedisURL(raw); err == nil {
			if sp := rt.SentinelPassword.Reveal(); sp != "" && strings.Contains(redactedMark(out), sp) && strings.Count(raw, sp) < 2 {
				t.Fatalf("RedactURL of %q holds its sentinel password %q: %q", raw, sp, out)
			}
			if pw := rt.Password.Reveal(); pw != "" && strings.Contains(redactedMark(out), pw) && strings.Count(raw, pw) < 2 {
				found := false
				for _, p := range urlPasswords(raw) {
					found = found || p.decoded == pw
				}
				if !found {
					t.Fatalf("RedactURL of %q holds the password %q ParseRedisURL finds: %q", raw, pw, out)
				}
			}
		}
	})
}

// FuzzParseRedisURL: ParseRedisURL never panics, its errors (and Validate's
// for redis.url) never hold the password of the URL's user information,
// and a target it returns is consistent (an address for each host, a
// sentinel master name).
func FuzzParseRedisURL(f *testing.F) {
	for _, s := range urlSeeds {
		f.Add(s)
	}
	parseErr := func(raw string) string {
		_, err := ParseRedisURL(raw)
		return errText(err)
	}
	validateErr := func(raw string) string {
		cfg := Default()
		cfg.Redis.URL = raw
		return errText(cfg.Validate())
	}
	f.Fuzz(func(t *testing.T, raw string) {
		rt, err := ParseRedisURL(raw)
		if err != nil {
			if rt != nil {
				t.Fatalf("ParseRedisURL(%q) returned a target with error %v", raw, err)
			}
			checkNoPassword(t, "ParseRedisURL error", raw, err.Error(), parseErr)
		} else {
			if rt == nil || len(rt.Addrs) == 0 || rt.DB < 0 {
				t.Fatalf("ParseRedisURL(%q) = %+v", raw, rt)
			}
			if rt.Scheme == "redis-sentinel" && rt.MasterName == "" {
				t.Fatalf("ParseRedisURL(%q): sentinel without master", raw)
			}
		}
		if raw != "" {
			checkNoPassword(t, "Validate error", raw, validateErr(raw), validateErr)
		}
	})
}

// FuzzDatabaseURL: the database.url check never panics, and its errors
// (through Validate) never hold the password of the URL's user
// information.
func FuzzDatabaseURL(f *testing.F) {
	for _, s := range urlSeeds {
		f.Add(s)
	}
	checkErr := func(raw string) string { return errText(checkDatabaseURL(raw)) }
	validateErr := func(raw string) string {
		cfg := Default()
		cfg.Database.URL = raw
		return errText(cfg.Validate())
	}
	f.Fuzz(func(t *testing.T, raw string) {
		checkNoPassword(t, "checkDatabaseURL error", raw, checkErr(raw), checkErr)
		checkNoPassword(t, "Validate error", raw, validateErr(raw), validateErr)
		d := Database{URL: raw}
		_ = d.Driver()
		_, _ = d.SQLitePath()
	})
}

// loadSeeds are configuration files on the edges of Load: every section,
// wrong kinds at each level, unknown and duplicate keys, anchors, tags and
// merge keys, several documents, bad encodings.
var loadSeeds = []string{
	``, `---`, `...`, `null`, `~`, `[]`, `x`, `1`, `{}`, `{`, `: :`, "\ufeffredis: {url: ''}", "\xff\xfe", "# only a comment\n",
	"redis:\n  url: redis://:pw@cache:6379/0\ndatabase:\n  url: postgres://u:pw@db/tagcast\n  max_open_conns: 4\n",
	"log: {level: debug, format: console}\nworker: {concurrency: 2, lease: 1m, backoff: {base: 1s, cap: 1m, max_attempts: 3}}\n",
	"apps:\n  - name: main\n    app_key: k\n    app_secret_env: SECRET\n    data_center: singapore\n    quota: {hourly: 10, daily: 100, timezone: UTC}\n",
	"apps:\n  - name: a\n    hosts: [http://127.0.0.1:9001, 'http://u:p@h']\n  - name: a\n    app_secret_file: secret.txt\n",
	"apps: {name: x}\n", "apps: [1, [2], {x: y}]\n", "apps:\n  - hosts: {a: b}\n", "apps:\n  - hosts: [[a], {b: c}]\n",
	"redis: [url]\n", "redis: {url: [a]}\n", "redis: {url: {a: b}}\n", "redis: {nope: 1}\n", "redis: {url: a, url: b}\n",
	"worker: {concurrency: x, lease: 5, shutdown_timeout: 1d}\n", "worker: {concurrency: 99999999999999999999}\n",
	"database: {max_open_conns: 0x10, url: !!binary aGVsbG8=}\n", "a: &a {b: *a}\n", "redis: &r {url: x}\ndatabase: *r\n",
	"base: &b {level: debug}\nlog: {<<: *b, format: json}\n", "log: !!map {level: info}\n", "log: !custom {level: info}\n",
	"redis: {url: x}\n---\nlog: {level: debug}\n", "redis: {url: x}\n---\n", "---\n---\nlog: {level: debug}\n",
	"redis: {url: x}\n...\n---\nlog: {}\n", "log: {level: debug}\n--- |\n  text\n", "%YAML 1.2\n---\nlog: {level: info}\n",
	"? [a, b]\n: c\n", "? {a: b}\n: c\n", "log:\n  level: |\n    debug\n", "admin: {tokens_env: 'my secret token', token_env: ''}\n",
	"apps:\n  - app_secret_file: 'pasted-secret'\n  - app_secret_env: lower\n",
}

// FuzzLoad: Load never panics on any file; a *ValidationError comes with
// the configuration read so far, any other error without one; Validate,
// Settings, Redacted and the printers do not panic on what Load returns;
// a file that loads is refused once a further non-empty YAML document
// follows it, and still loads with a trailing empty one.
func FuzzLoad(f *testing.F) {
	for _, s := range loadSeeds {
		f.Add(s)
	}
	loadText := func(text string) (*Config, error) {
		fsys := files{"tagcast.yaml": text}
		return Load("tagcast.yaml", WithLookupEnv(env{}.lookup), WithReadFile(fsys.read))
	}
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := loadText(text)
		var ve *ValidationError
		switch {
		case errors.As(err, &ve) && cfg == nil:
			t.Fatalf("Load(%q) = %v without the configuration", text, err)
		case err != nil && !errors.As(err, &ve) && cfg != nil:
			t.Fatalf("Load(%q) = %v with a configuration", text, err)
		}
		if cfg != nil {
			_ = cfg.Validate()
			_ = cfg.Settings()
			if _, err := json.Marshal(cfg.Redacted()); err != nil {
				t.Fatalf("Redacted of %q does not marshal: %v", text, err)
			}
			_ = fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)
			quoted := func(r string) string { return strconv.Quote(RedactURL(r)) }
			for _, st := range cfg.Settings() {
				switch st.Path {
				case "redis.url":
					checkNoPassword(t, "Settings redis.url", cfg.Redis.URL, st.Value, quoted)
				case "database.url":
					checkNoPassword(t, "Settings database.url", cfg.Database.URL, st.Value, quoted)
				}
			}
			red := cfg.Redacted()
			checkNoPassword(t, "Redacted redis.url", cfg.Redis.URL, red["redis"].(map[string]any)["url"].(string), RedactURL)
			checkNoPassword(t, "Redacted database.url", cfg.Database.URL, red["database"].(map[string]any)["url"].(string), RedactURL)
		}
		if err != nil {
			return
		}
		// Only a file holding a document (with none, comments only, "---"
		// would start its first), and only where go-yaml itself reads the
		// "---" added as the start of a further document (it does not
		// after a doubled byte-order mark, say).
		docs := yamlDocs(text)
		if docs < 1 {
			return
		}
		if more := text + "\n---\n"; yamlDocs(more) == docs+1 {
			if _, err := loadText(more); err != nil {
				t.Fatalf("Load(%q) succeeds, but with a trailing empty document: %v", text, err)
			}
		}
		if more := text + "\n---\nlog: {level: debug}\n"; yamlDocs(more) == docs+1 {
			if _, err := loadText(more); err == nil {
				t.Fatalf("Load(%q) succeeds, and with a further document it is still accepted", text)
			}
		}
	})
}

// yamlDocs is the number of documents go-yaml decodes from text, or -1 when
// it fails.
func yamlDocs(text string) int {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	for n := 0; ; n++ {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return n
		} else if err != nil {
			return -1
		}
	}
}
