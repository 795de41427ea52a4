package config

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Setting is one key of the effective configuration, ready for display:
// secrets and URL passwords are redacted.
type Setting struct {
	Path   string `json:"path"`
	Value  string `json:"value"`
	Source string `json:"source"` // default | file | env TAGCAST_... | flag | resolved from ...
}

// Settings lists every key with its redacted value and where it came from,
// including the resolved App Secrets and admin tokens (as "[redacted]" or
// "(not set)").
func (c *Config) Settings() []Setting {
	var out []Setting
	for _, lf := range c.leaves() {
		value := displayValue(lf.path, lf.v)
		switch {
		case strings.HasSuffix(lf.path, "_env"):
			value = strconv.Quote(c.ShownEnv(lf.v.String()))
		case strings.HasSuffix(lf.path, ".app_secret_file"):
			value = strconv.Quote(c.ShownFile(lf.v.String()))
		}
		out = append(out, Setting{Path: lf.path, Value: value, Source: c.Source(lf.path)})
		if i, ok := appIndex(lf.path, "app_secret_file"); ok {
			a := c.Apps[i]
			out = append(out, Setting{Path: fmt.Sprintf("apps[%d].app_secret", i), Value: secretState(a.Secret), Source: a.secretSource(c.ShownEnv, c.ShownFile)})
		}
		switch lf.path {
		case "admin.tokens_env":
			out = append(out, Setting{Path: "admin.tokens", Value: tokensState(c.Admin.Tokens), Source: resolvedFrom("env " + c.ShownEnv(c.Admin.TokensEnv))})
		case "admin.token_env":
			out = append(out, Setting{Path: "admin.token", Value: secretState(c.Admin.Token), Source: resolvedFrom("env " + c.ShownEnv(c.Admin.TokenEnv))})
		}
	}
	return out
}

// Redacted is the effective configuration as nested maps and lists (keys as
// in the file, durations as text), secrets shown as "[redacted]" and URL
// passwords removed: safe to print as JSON or YAML.
func (c *Config) Redacted() map[string]any {
	m := redactedValue("", reflect.ValueOf(c).Elem()).(map[string]any)
	apps := m["apps"].([]any)
	for i := range apps {
		app := apps[i].(map[string]any)
		app["app_secret"] = secretState(c.Apps[i].Secret)
		app["app_secret_env"] = c.ShownEnv(c.Apps[i].AppSecretEnv)
		app["app_secret_file"] = c.ShownFile(c.Apps[i].AppSecretFile)
	}
	admin := m["admin"].(map[string]any)
	admin["tokens_env"] = c.ShownEnv(c.Admin.TokensEnv)
	admin["token_env"] = c.ShownEnv(c.Admin.TokenEnv)
	admin["tokens"] = tokensState(c.Admin.Tokens)
	admin["token"] = secretState(c.Admin.Token)
	return m
}

func redactedValue(path string, v reflect.Value) any {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct:
		m := map[string]any{}
		for i := range t.NumField() {
			if name, ok := keyName(t.Field(i)); ok {
				m[name] = redactedValue(joinPath(path, name), v.Field(i))
			}
		}
		return m
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		list := make([]any, 0, v.Len())
		for i := range v.Len() {
			list = append(list, redactedValue(fmt.Sprintf("%s[%d]", path, i), v.Index(i)))
		}
		return list
	case t.Kind() == reflect.Slice:
		list := make([]string, 0, v.Len())
		for i := range v.Len() {
			list = append(list, RedactURL(v.Index(i).String()))
		}
		return list
	case t == durationType:
		return time.Duration(v.Int()).String()
	case t.Kind() == reflect.Int:
		return int(v.Int())
	case isURLKey(path):
		return RedactURL(v.String())
	default:
		return v.String()
	}
}

func isURLKey(path string) bool {
	// The listen addresses are no URLs, but a URL with a password typed
	// there by mistake must not be shown either.
	return path == "redis.url" || path == "database.url" || path == "admin.server" ||
		path == "admin.addr" || path == "metrics.addr"
}

func displayValue(path string, v reflect.Value) string {
	t := v.Type()
	switch {
	case t == durationType:
		return time.Duration(v.Int()).String()
	case t.Kind() == reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case t.Kind() == reflect.Slice:
		items := make([]string, 0, v.Len())
		for i := range v.Len() {
			items = append(items, RedactURL(v.Index(i).String()))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case isURLKey(path):
		return strconv.Quote(RedactURL(v.String()))
	default:
		return strconv.Quote(v.String())
	}
}

// appIndex parses "apps[N].<key>".
func appIndex(path, key string) (int, bool) {
	rest, ok := strings.CutPrefix(path, "apps[")
	if !ok {
		return 0, false
	}
	n, tail, ok := strings.Cut(rest, "]")
	if !ok || tail != "."+key {
		return 0, false
	}
	i, err := strconv.Atoi(n)
	return i, err == nil
}

func secretState(s Secret) string {
	if s.IsZero() {
		return "(not set)"
	}
	return redacted
}

func tokensState(ts []Secret) string {
	if len(ts) == 0 {
		return "(not set)"
	}
	return fmt.Sprintf("%s (%d)", redacted, len(ts))
}

func resolvedFrom(source string) string { return "resolved from " + source }

func (a *App) secretSource(shownEnv, shownFile func(string) string) string {
	switch {
	case a.AppSecretEnv != "" && a.AppSecretFile != "":
		return "ambiguous"
	case a.AppSecretEnv != "":
		return resolvedFrom("env " + shownEnv(a.AppSecretEnv))
	case a.AppSecretFile != "":
		return resolvedFrom("file " + shownFile(a.AppSecretFile))
	case !a.Secret.IsZero():
		return "set in code"
	}
	return "missing"
}

// RedactURL replaces the password of a URL, and the value of any query
// parameter whose name mentions a password, secret, token or key, with
// "[redacted]". It works on the text (sentinel URLs with several hosts do not
// parse as URLs), treating everything before the authority's last '@' as
// user information. Text without "://" (a mistyped URL, a libpq
// "key=value" string) is not a URL this program reads, but it is shown in
// the error that says so: it goes through redactOpaque.
func RedactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return redactOpaque(raw)
	}
	if passwordSpilled(raw) {
		// An unencoded '@' after the host, as Validate refuses it: a
		// password with an unencoded '/', '?' or '#' spilled past the
		// host, or a query value holding one; any of the text may be
		// secret, so none of it is shown.
		return scheme + "://" + redacted
	}
	// Otherwise every '@' is in the authority (up to the first '/', '?' or
	// '#'), and the last one ends the user information.
	authority := rest
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		authority = rest[:end]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if user, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			rest = user + ":" + redacted + rest[at:]
		}
	}
	beforeQuery, query, hasQuery := strings.Cut(rest, "?")
	out := scheme + "://" + beforeQuery
	if !hasQuery {
		return out
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	if _, err := url.ParseQuery(query); err != nil {
		return out + "?" + redacted
	}
	// In the order written: after a secret parameter, a part that is not
	// name=value with a plain name may be the rest of the secret (a
	// password holding an unencoded '&'), and is hidden whole.
	parts := strings.Split(query, "&")
	afterSecret := false
	for i, part := range parts {
		name, value, hasValue := strings.Cut(part, "=")
		n, _ := url.QueryUnescape(name) // ParseQuery read it
		switch {
		case sensitiveParam(n):
			parts[i] = name + "=" + redacted
			afterSecret = true
		case afterSecret && (!hasValue || value == "" || !plainParamName.MatchString(n)):
			parts[i] = redacted
		}
	}
	out += "?" + strings.Join(parts, "&")
	if hasFragment {
		if afterSecret {
			// The rest of a secret holding an unencoded '#'.
			fragment = redacted
		}
		out += "#" + fragment
	}
	return out
}

// plainParamName is a query parameter name as the URLs tagcast reads have
// them (sslmode, master, application_name).
var plainParamName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// redactOpaque hides what may be a secret in text that is not a URL: all
// before the last '@' ("user:pass@host" without its scheme), and the value
// of every keyword whose name says secret in a libpq connection string
// ("password=x", "password = 'x y'"). Where the text stops following that
// grammar (a quote that does not end, a word without '='), the rest is
// hidden.
func redactOpaque(raw string) string {
	if at := strings.LastIndexByte(raw, '@'); at >= 0 {
		raw = redacted + raw[at:]
	}
	if !strings.Contains(raw, "=") {
		return raw
	}
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	skip := func(i int) int {
		for i < len(raw) && isSpace(raw[i]) {
			i++
		}
		return i
	}
	var b strings.Builder
	i := 0
	for {
		start := i
		i = skip(i)
		if i == len(raw) {
			b.WriteString(raw[start:])
			return b.String()
		}
		k := i
		for i < len(raw) && raw[i] != '=' && !isSpace(raw[i]) {
			i++
		}
		key := raw[k:i]
		i = skip(i)
		if i == len(raw) || raw[i] != '=' || key == "" {
			b.WriteString(raw[start:k] + redacted)
			return b.String()
		}
		i = skip(i + 1)
		end := valueEnd(raw, i)
		if end < 0 {
			b.WriteString(raw[start:i] + redacted)
			return b.String()
		}
		if sensitiveParam(key) {
			b.WriteString(raw[start:i] + redacted)
		} else {
			b.WriteString(raw[start:end])
		}
		i = end
	}
}

// valueEnd is the index just past the libpq value that starts at i (quoted
// with ' and \-escapes, or up to the next space), or -1 when a quoted value
// does not end.
func valueEnd(s string, i int) int {
	if i < len(s) && s[i] == '\'' {
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '\'':
				return j + 1
			}
		}
		return -1
	}
	if sp := strings.IndexAny(s[i:], " \t\n\r"); sp >= 0 {
		return i + sp
	}
	return len(s)
}

// sensitiveParam reports whether a query parameter of a URL holds a secret
// (its name mentions a password, secret, token or key).
func sensitiveParam(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "password") || strings.Contains(n, "secret") || strings.Contains(n, "token") || strings.Contains(n, "key")
}

// Redis and Database print, and marshal to JSON and YAML, with the URL's
// password redacted, so that logging or dumping a whole Config is safe. Code
// that connects reads the URL field itself.

func (r Redis) String() string   { return "{URL:" + RedactURL(r.URL) + "}" }
func (r Redis) GoString() string { return "config.Redis{URL:" + strconv.Quote(RedactURL(r.URL)) + "}" }

// Format implements fmt.Formatter (every verb redacts).
func (r Redis) Format(f fmt.State, verb rune) { formatRedacted(f, verb, r.String(), r.GoString()) }

// MarshalJSON implements json.Marshaler.
func (r Redis) MarshalJSON() ([]byte, error) { return json.Marshal(urlDump(r.URL)) }

// MarshalYAML implements yaml.Marshaler.
func (r Redis) MarshalYAML() (any, error) { return urlDump(r.URL), nil }

func (d Database) String() string { return "{URL:" + RedactURL(d.URL) + "}" }
func (d Database) GoString() string {
	return "config.Database{URL:" + strconv.Quote(RedactURL(d.URL)) + "}"
}

// Format implements fmt.Formatter (every verb redacts).
func (d Database) Format(f fmt.State, verb rune) { formatRedacted(f, verb, d.String(), d.GoString()) }

// MarshalJSON implements json.Marshaler.
func (d Database) MarshalJSON() ([]byte, error) { return json.Marshal(urlDump(d.URL)) }

// MarshalYAML implements yaml.Marshaler.
func (d Database) MarshalYAML() (any, error) { return urlDump(d.URL), nil }

func urlDump(raw string) map[string]string { return map[string]string{"url": RedactURL(raw)} }

func formatRedacted(f fmt.State, verb rune, s, gos string) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, gos)
		return
	}
	_, _ = io.WriteString(f, s)
}
