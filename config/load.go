package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment override: TAGCAST_ + the key's path in
// upper case with "_" between parts, list indexes included:
//
//	TAGCAST_DATABASE_URL, TAGCAST_REDIS_URL, TAGCAST_ADMIN_ADDR,
//	TAGCAST_WORKER_CONCURRENCY, TAGCAST_LOG_LEVEL,
//	TAGCAST_APPS_0_APP_KEY, TAGCAST_APPS_0_QUOTA_HOUR_WINDOW,
//	TAGCAST_APPS_1_HOSTS=http://127.0.0.1:9001,http://127.0.0.1:9002
//
// Lists of strings (hosts) are comma-separated. An override for the app just
// past the last one in the file (index len(apps), then the next, ...) adds an
// app with the defaults, so a whole config can come from the environment. A
// variable that is set but empty sets the key to "" (for redis.url: embedded).
const EnvPrefix = "TAGCAST"

// Option changes how Load reads its inputs.
type Option func(*loader)

// WithLookupEnv replaces os.LookupEnv, for TAGCAST_* overrides, App Secret
// variables and admin tokens. Tests use it instead of mutating the process
// environment.
func WithLookupEnv(lookup func(string) (string, bool)) Option {
	return func(l *loader) { l.lookupEnv = lookup }
}

// WithReadFile replaces os.ReadFile, for the config file and app_secret_file.
func WithReadFile(read func(string) ([]byte, error)) Option {
	return func(l *loader) { l.readFile = read }
}

type loader struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	problems  []Problem
}

func (l *loader) problem(path, format string, a ...any) {
	if path == "" {
		path = "(root)"
	}
	l.problems = append(l.problems, Problem{Path: path, Rule: fmt.Sprintf(format, a...)})
}

// Load reads the YAML file at path (none when path is ""), starts from the
// defaults, applies TAGCAST_* environment overrides and resolves App Secrets
// and admin tokens. Unknown keys, values of the wrong type and unreadable
// files are errors (a *ValidationError lists every key problem with its
// path). Load does not call Validate. With a *ValidationError it also
// returns the configuration as far as it could be read (each bad key keeps
// its default), so that a checker can report Validate's problems in the same
// pass.
func Load(path string, opts ...Option) (*Config, error) {
	l := &loader{lookupEnv: os.LookupEnv, readFile: os.ReadFile}
	for _, o := range opts {
		o(l)
	}
	cfg := Default()
	cfg.lookupEnv, cfg.readFile, cfg.file = l.lookupEnv, l.readFile, path
	if path != "" {
		data, err := l.readFile(path)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
			l.decode(cfg, "", doc.Content[0], reflect.ValueOf(cfg).Elem())
		}
		// Any further document ("---" and more keys) would be ignored in
		// silence; an empty one (a trailing "---") is harmless.
		for {
			var more yaml.Node
			err := dec.Decode(&more)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("config %s: %w", path, err)
			}
			if len(more.Content) > 0 && !isNull(more.Content[0]) {
				l.problem("", "%s: a further YAML document (after ---) is not read: the configuration is one document", lineOf(more.Content[0]))
				break
			}
		}
	}
	l.applyEnv(cfg)
	cfg.resolveSecrets()
	if len(l.problems) > 0 {
		return cfg, &ValidationError{Source: path, Problems: l.problems}
	}
	return cfg, nil
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	appType      = reflect.TypeFor[App]()
)

// keyName is the YAML key of a struct field, ok false for fields that are not
// configuration keys (unexported, `yaml:"-"`).
func keyName(sf reflect.StructField) (string, bool) {
	if !sf.IsExported() {
		return "", false
	}
	tag, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if tag == "" || tag == "-" {
		return "", false
	}
	return tag, true
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// keyLike reports whether an unknown key may be quoted in a problem: it
// looks like a key name (letters, digits, '_' and '-', at most 64).
func keyLike(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	return strings.IndexFunc(k, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '-'
	}) < 0
}

func lineOf(n *yaml.Node) string { return "line " + strconv.Itoa(n.Line) }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a single value"
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// decode walks a YAML node against the configuration struct, reporting every
// unknown key and badly typed value with its path. Keys that are absent or
// null keep their defaults.
func (l *loader) decode(cfg *Config, path string, n *yaml.Node, v reflect.Value) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			l.problem(path, "must be a mapping, got %s (%s)", kindName(n), lineOf(n))
			return
		}
		fields := map[string]reflect.Value{}
		var known []string
		for i := range t.NumField() {
			if name, ok := keyName(t.Field(i)); ok {
				fields[name] = v.Field(i)
				known = append(known, name)
			}
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			f, ok := fields[k.Value]
			switch {
			case !ok && !keyLike(k.Value):
				// Not a key name: most likely a key and its value without the
				// space after the colon (`{url:postgres://u:pw@db/x}` is one
				// key in YAML), which may hold a password. Never quoted.
				l.problem(path, "unknown key of %d characters, not shown since it may hold a secret (%s); a key's colon must be followed by a space; known keys here: %s",
					utf8.RuneCountInString(k.Value), lineOf(k), strings.Join(known, ", "))
			case !ok:
				l.problem(p, "unknown key (%s); known keys here: %s", lineOf(k), strings.Join(known, ", "))
			case seen[k.Value]:
				l.problem(p, "duplicate key (%s)", lineOf(k))
			default:
				seen[k.Value] = true
				l.decode(cfg, p, val, f)
			}
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			l.problem(path, "must be a list, got %s (%s)", kindName(n), lineOf(n))
			return
		}
		list := reflect.MakeSlice(t, 0, len(n.Content))
		for i, item := range n.Content {
			elem := reflect.New(t.Elem()).Elem()
			if t.Elem() == appType {
				elem.Set(reflect.ValueOf(DefaultApp()))
			}
			l.decode(cfg, fmt.Sprintf("%s[%d]", path, i), item, elem)
			list = reflect.Append(list, elem)
		}
		v.Set(list)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			l.problem(path, "must be a list, got %s (%s)", kindName(n), lineOf(n))
			return
		}
		list := make([]string, 0, len(n.Content))
		var index []int // each kept item's index in the file
		for i, item := range n.Content {
			for item.Kind == yaml.AliasNode {
				item = item.Alias
			}
			if item.Kind != yaml.ScalarNode {
				l.problem(fmt.Sprintf("%s[%d]", path, i), "must be a single value, got %s (%s)", kindName(item), lineOf(item))
				continue
			}
			list = append(list, item.Value)
			index = append(index, i)
		}
		v.Set(reflect.ValueOf(list))
		cfg.mark(path, "file")
		if len(list) < len(n.Content) {
			// The refused items are dropped: Validate must still name
			// each item kept by its index in the file.
			if cfg.fileLists == nil {
				cfg.fileLists = map[string]fileList{}
			}
			cfg.fileLists[path] = fileList{items: slices.Clone(list), index: index}
		}
	default:
		if n.Kind != yaml.ScalarNode {
			l.problem(path, "must be a single value, got %s (%s)", kindName(n), lineOf(n))
			return
		}
		if rule := setLeaf(v, n.Value); rule != "" {
			l.problem(path, "%s (%s)", rule, lineOf(n))
			return
		}
		cfg.mark(path, "file")
	}
}

// setLeaf parses raw into the leaf v; it returns the broken rule, or "".
func setLeaf(v reflect.Value, raw string) string {
	t := v.Type()
	switch {
	case t == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Sprintf("must be a duration with a unit such as 10s or 1m30s, got %q", raw)
		}
		v.SetInt(int64(d))
	case t.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Sprintf("must be an integer, got %q", raw)
		}
		v.SetInt(int64(n))
	case t.Kind() == reflect.String:
		v.SetString(raw)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		v.Set(reflect.ValueOf(splitList(raw)))
	default:
		return fmt.Sprintf("cannot be set from text (type %s)", t)
	}
	return ""
}

// splitList splits a comma-separated list, trimming blanks and dropping empty
// items.
func splitList(raw string) []string {
	out := []string{}
	for item := range strings.SplitSeq(raw, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// leaf is one settable key: its path, its environment variable and its value.
type leaf struct {
	path string
	env  string
	v    reflect.Value
}

func collectLeaves(path, env string, v reflect.Value, out []leaf) []leaf {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			if name, ok := keyName(t.Field(i)); ok {
				out = collectLeaves(joinPath(path, name), env+"_"+strings.ToUpper(name), v.Field(i), out)
			}
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		for i := range v.Len() {
			out = collectLeaves(fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("%s_%d", env, i), v.Index(i), out)
		}
	default:
		out = append(out, leaf{path: path, env: env, v: v})
	}
	return out
}

func (c *Config) leaves() []leaf {
	return collectLeaves("", EnvPrefix, reflect.ValueOf(c).Elem(), nil)
}

// EnvVar returns the environment variable that overrides the key at path
// (e.g. "apps[0].quota.daily" -> "TAGCAST_APPS_0_QUOTA_DAILY"), or "" for a
// path that is not a key of c.
func (c *Config) EnvVar(path string) string {
	for _, lf := range c.leaves() {
		if lf.path == path {
			return lf.env
		}
	}
	return ""
}

// UnknownEnv returns the names in environ ("NAME=value" entries, as from
// os.Environ) that start with TAGCAST_ but name no key of c, no app's key
// by index, and none of the variables c names for its secrets and tokens:
// a misspelt override (TAGCAST_REDIS_ULR) is otherwise ignored without a
// word. also are further names known elsewhere (e.g. the simulated clock's).
func (c *Config) UnknownEnv(environ []string, also ...string) []string {
	known := map[string]bool{}
	for _, name := range also {
		known[name] = true
	}
	for _, lf := range c.leaves() {
		known[lf.env] = true
	}
	known[c.Admin.TokensEnv], known[c.Admin.TokenEnv] = true, true
	for _, a := range c.Apps {
		known[a.AppSecretEnv] = true
	}
	app := DefaultApp()
	appKeys := map[string]bool{}
	for _, lf := range collectLeaves("", "", reflect.ValueOf(&app).Elem(), nil) {
		appKeys[lf.env] = true // "_APP_KEY", "_QUOTA_DAILY", ...
	}
	appsPrefix := EnvPrefix + "_APPS_"
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || known[name] {
			continue
		}
		if rest, ok := strings.CutPrefix(name, appsPrefix); ok {
			i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
			if i > 0 && appKeys[rest[i:]] {
				// An app's key by index. The indexes of c's apps are known
				// already; applyEnv reports those up to maxAppIndexGap past
				// them. Anything else (further on, or "01") is applied by
				// nobody.
				n, err := strconv.Atoi(rest[:i])
				if err == nil && strconv.Itoa(n) == rest[:i] && n > len(c.Apps) && n <= len(c.Apps)+maxAppIndexGap {
					continue
				}
			}
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// maxAppIndexGap is how far past the next app index applyEnv looks for a
// mistaken TAGCAST_APPS_N_* variable.
const maxAppIndexGap = 8

// applyEnv adds the apps the environment defines past the file's, then
// applies every TAGCAST_* override.
func (l *loader) applyEnv(cfg *Config) {
	// setAt lists the variables set of an app at index i, in key order.
	setAt := func(i int) []string {
		app := DefaultApp()
		var set []string
		for _, lf := range collectLeaves(fmt.Sprintf("apps[%d]", i), fmt.Sprintf("%s_APPS_%d", EnvPrefix, i), reflect.ValueOf(&app).Elem(), nil) {
			if _, ok := l.lookupEnv(lf.env); ok {
				set = append(set, lf.env)
			}
		}
		return set
	}
	next := len(cfg.Apps)
	for ; ; next++ {
		set := setAt(next)
		if len(set) == 0 {
			break
		}
		app := DefaultApp()
		app.onlyFrom = set
		cfg.Apps = append(cfg.Apps, app)
	}
	// An app further on would be dropped in silence: say so (a few indexes
	// past the gap are looked at; the environment cannot be listed here).
	for i := next + 1; i <= next+maxAppIndexGap; i++ {
		if set := setAt(i); len(set) > 0 {
			l.problem(fmt.Sprintf("apps[%d]", i), "from %s: apps are added from the environment in order, and apps[%d] is not defined (by the file or %s_APPS_%d_*)", set[0], next, EnvPrefix, next)
		}
	}
	for _, lf := range cfg.leaves() {
		raw, ok := l.lookupEnv(lf.env)
		if !ok {
			continue
		}
		if rule := setLeaf(lf.v, raw); rule != "" {
			l.problem(lf.path, "from %s: %s", lf.env, rule)
			continue
		}
		cfg.mark(lf.path, "env "+lf.env)
	}
}

// Set overrides the key at path (as Settings and Validate name it, e.g.
// "admin.addr", "apps[0].timeout") with a textual value, the way a
// command-line flag does, then re-resolves secrets. Lists are
// comma-separated.
func (c *Config) Set(path, value string) error {
	return c.SetFromFlag(path, value, "")
}

// SetFromFlag is Set by the command-line flag named flag ("--concurrency"):
// Source, and a problem Validate finds with the value, name it.
func (c *Config) SetFromFlag(path, value, flag string) error {
	for _, lf := range c.leaves() {
		if lf.path != path {
			continue
		}
		if rule := setLeaf(lf.v, value); rule != "" {
			return &ValidationError{Problems: []Problem{{Path: path, Rule: rule}}}
		}
		c.mark(path, strings.TrimSpace("flag "+flag))
		c.resolveSecrets()
		return nil
	}
	return fmt.Errorf("config: %s: %w", path, ErrUnknownKey)
}

// ShownEnv is how the name of an environment variable the configuration
// names (an *_env key) may be displayed: as itself, unless it was unset and
// not an upper-case variable name, when it may be the secret itself pasted
// in its place.
func (c *Config) ShownEnv(name string) string {
	if c.hiddenEnv[name] {
		return "[not shown: unset, and not an upper-case variable name; is it the secret itself?]"
	}
	return name
}

// MaybePastedEnvName reports whether name, given where the name of a
// variable belongs (an *_env key) and found unset, may be a secret pasted
// in its place: it is not an upper-case variable name. Such a name is never
// displayed.
func MaybePastedEnvName(name string) bool {
	return name != "" && (strings.ToUpper(name) != name || !envNameRE.MatchString(name))
}

// MaybePastedFileName reports whether name, given where a file name belongs
// (app_secret_file) and naming no file, may be a secret pasted in its place:
// it has no '/', '\' or '.'. Such a name is never displayed.
func MaybePastedFileName(name string) bool { return !strings.ContainsAny(name, `/\.`) }

// ShownFile is how an app_secret_file name may be displayed: as itself,
// unless no such file exists and the name has no '/' or '.', when it may be
// the secret itself pasted in its place.
func (c *Config) ShownFile(name string) string {
	if c.hiddenFile[name] {
		return "[not shown: no such file, and not a path; is it the secret itself?]"
	}
	return name
}

// ErrUnknownKey is returned by Set for a path that is not a configuration key.
var ErrUnknownKey = errors.New("unknown key")

// mark records where the value at path came from. A list set anew no
// longer has the file's numbering.
func (c *Config) mark(path, source string) {
	if c.sources == nil {
		c.sources = map[string]string{}
	}
	c.sources[path] = source
	delete(c.fileLists, path)
}

// Source says where the value at path came from: "default", "file",
// "env TAGCAST_...", or "flag" (with its name when SetFromFlag set it:
// "flag --concurrency").
func (c *Config) Source(path string) string {
	if s, ok := c.sources[path]; ok {
		return s
	}
	return "default"
}

// resolveSecrets reads each app's secret from its variable or file and the
// admin tokens from theirs. Failures are kept for Validate; no message holds a
// secret.
func (c *Config) resolveSecrets() {
	lookup, read := c.lookupEnv, c.readFile
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if read == nil {
		read = os.ReadFile
	}
	c.hiddenEnv, c.hiddenFile = nil, nil
	hideIfSuspect := func(name string, set bool) {
		if !set && MaybePastedEnvName(name) {
			if c.hiddenEnv == nil {
				c.hiddenEnv = map[string]bool{}
			}
			c.hiddenEnv[name] = true
		}
	}
	// hideFileIfSuspect hides an app_secret_file name that read found no
	// file for and that is not a path (maybe the secret itself), and
	// reports whether it did.
	hideFileIfSuspect := func(name string, err error) bool {
		if err == nil || !errors.Is(err, fs.ErrNotExist) || !MaybePastedFileName(name) {
			return false
		}
		if c.hiddenFile == nil {
			c.hiddenFile = map[string]bool{}
		}
		c.hiddenFile[name] = true
		return true
	}
	for i := range c.Apps {
		a := &c.Apps[i]
		a.secretProblem = ""
		switch {
		case a.AppSecretEnv != "" && a.AppSecretFile != "":
			// Validate reports the ambiguity and no secret is resolved,
			// but either name may be a secret pasted in its place (a
			// TAGCAST_APPS_N_APP_SECRET_ENV read as "the App Secret"): it
			// is hidden as when it is the only source.
			a.Secret = Secret{}
			_, ok := lookup(a.AppSecretEnv)
			hideIfSuspect(a.AppSecretEnv, ok)
			_, err := read(a.AppSecretFile)
			hideFileIfSuspect(a.AppSecretFile, err)
		case a.AppSecretEnv != "":
			a.Secret = Secret{}
			v, ok := lookup(a.AppSecretEnv)
			hideIfSuspect(a.AppSecretEnv, ok)
			switch {
			case !ok:
				a.secretProblem = fmt.Sprintf("environment variable %s is not set", c.ShownEnv(a.AppSecretEnv))
			case strings.TrimSpace(v) == "":
				a.secretProblem = fmt.Sprintf("environment variable %s is empty", a.AppSecretEnv)
			default:
				a.Secret = NewSecret(strings.TrimSpace(v))
			}
		case a.AppSecretFile != "":
			a.Secret = Secret{}
			data, err := read(a.AppSecretFile)
			switch {
			case hideFileIfSuspect(a.AppSecretFile, err):
				// Not a path to be seen anywhere: maybe the secret itself.
				a.secretProblem = fmt.Sprintf("cannot read the secret file: no such file (its name, %d characters with no '/' or '.', is not shown: is it the secret itself?)", len(a.AppSecretFile))
			case err != nil:
				a.secretProblem = fmt.Sprintf("cannot read the secret file: %v", err)
			case strings.TrimSpace(string(data)) == "":
				a.secretProblem = fmt.Sprintf("file %s is empty", a.AppSecretFile)
			default:
				a.Secret = NewSecret(strings.TrimSpace(string(data)))
			}
		}
	}
	c.Admin.Tokens = nil
	if c.Admin.TokensEnv != "" {
		v, ok := lookup(c.Admin.TokensEnv)
		hideIfSuspect(c.Admin.TokensEnv, ok)
		if ok {
			for _, t := range splitList(v) {
				c.Admin.Tokens = append(c.Admin.Tokens, NewSecret(t))
			}
		}
	}
	c.Admin.Token = Secret{}
	if c.Admin.TokenEnv != "" {
		v, ok := lookup(c.Admin.TokenEnv)
		hideIfSuspect(c.Admin.TokenEnv, ok)
		if ok {
			c.Admin.Token = NewSecret(strings.TrimSpace(v))
		}
	}
}
