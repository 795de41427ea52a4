package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagcast/tagcast/internal/calendar"
	"github.com/tagcast/tagcast/pushapi"
)

// DataCenters are the data_center values (pushapi.DataCenterHosts knows the
// host pair of each).
var DataCenters = []string{"beijing", "singapore", "singapore-b", "north-america", "saudi-arabia"}

// LogLevels are the log.level values.
var LogLevels = []string{"trace", "debug", "info", "warn", "error"}

// Problem is one broken rule, at a field path such as
// "apps[1].quota.hour_window".
type Problem struct {
	Path string `json:"path"`
	Rule string `json:"rule"`
}

func (p Problem) String() string { return p.Path + ": " + p.Rule }

// ValidationError lists every problem found by Load or Validate. No rule ever
// quotes a secret or a URL that may hold a password.
type ValidationError struct {
	Source   string // the config file, if any
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.Source != "" {
		b.WriteString(" " + e.Source)
	}
	if len(e.Problems) == 1 {
		b.WriteString(": ")
	} else {
		fmt.Fprintf(&b, ": %d problems: ", len(e.Problems))
	}
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

type validator struct {
	problems []Problem
	// about holds, for each problem, the further keys whose values break
	// its rule together with the one at its path.
	about [][]string
	// withoutSecrets leaves out what the App Secrets' variables and files
	// hold (ValidateWithoutSecrets), but for the app named secretOf
	// (ValidateForApp).
	withoutSecrets bool
	secretOf       string
	// fileLists are the file's lists that Load dropped items of
	// (Config.fileLists).
	fileLists map[string]fileList
}

func (v *validator) add(path, format string, a ...any) {
	v.addAbout(path, nil, format, a...)
}

// addAbout adds a problem at path with a rule that the values at the paths
// about break too: Validate names the variable or flag that set any of
// them, as it does for the value at path.
func (v *validator) addAbout(path string, about []string, format string, a ...any) {
	v.problems = append(v.problems, Problem{Path: path, Rule: fmt.Sprintf(format, a...)})
	v.about = append(v.about, about)
}

// itemIndex is the index by which a problem names items[i] of the list at
// path: its index in the file when Load dropped a refused item before it,
// else i.
func (v *validator) itemIndex(path string, items []string, i int) int {
	if fl, ok := v.fileLists[path]; ok && slices.Equal(fl.items, items) {
		return fl.index[i]
	}
	return i
}

var (
	appNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks every rule and returns nil or a *ValidationError listing
// all problems. A config without apps is valid (the demo and migrate need
// none); commands that need an app look it up with App.
func (c *Config) Validate() error {
	return c.validate(&validator{})
}

// ValidateWithoutSecrets is Validate for a process that never calls the push
// service (the admin API's clients: campaign, quota; migrate): an App
// Secret's variable that is not set, or its file unreadable, is no problem
// there, so an operator holding the admin token alone can use the team's
// configuration file. Everything else is checked, the secrets' settings
// too (one of app_secret_env and app_secret_file, a valid variable name).
func (c *Config) ValidateWithoutSecrets() error {
	return c.validate(&validator{withoutSecrets: true})
}

// ValidateForApp is Validate for a process that calls the push service as
// the one app named name (tags, push send): only that app's secret must
// resolve; another app's unset variable is no problem there.
func (c *Config) ValidateForApp(name string) error {
	return c.validate(&validator{withoutSecrets: true, secretOf: name})
}

// checksSecret says whether the validation checks what the secret of the
// app named name holds.
func (v *validator) checksSecret(name string) bool {
	return !v.withoutSecrets || (name != "" && name == v.secretOf)
}

func (c *Config) validate(v *validator) error {
	v.fileLists = c.fileLists
	firstByName := map[string]int{}
	firstByKey := map[string]int{}
	for i := range c.Apps {
		p := fmt.Sprintf("apps[%d]", i)
		c.Apps[i].validate(p, v)
		if name := c.Apps[i].Name; name != "" {
			if j, dup := firstByName[name]; dup {
				v.addAbout(p+".name", []string{fmt.Sprintf("apps[%d].name", j)}, "duplicate app name %q (also apps[%d])", name, j)
			} else {
				firstByName[name] = i
			}
		}
		// The service's quota belongs to the App Key and the guard counts per
		// app: two apps on one key would each be given the whole quota.
		if key := c.Apps[i].AppKey; key != "" {
			if j, dup := firstByKey[key]; dup {
				v.addAbout(p+".app_key", []string{fmt.Sprintf("apps[%d].app_key", j)}, "same App Key as apps[%d]: the quota is per App Key, so configure it once", j)
			} else {
				firstByKey[key] = i
			}
		}
	}
	if c.Redis.URL != "" {
		if _, err := ParseRedisURL(c.Redis.URL); err != nil {
			v.add("redis.url", "%v", err)
		}
	}
	if err := checkDatabaseURL(c.Database.URL); err != nil {
		v.add("database.url", "%v", err)
	}
	if c.Database.MaxOpenConns < 1 {
		v.add("database.max_open_conns", "must be at least 1, got %d", c.Database.MaxOpenConns)
	}
	if c.Admin.Addr != "" {
		if err := checkListenAddr(c.Admin.Addr); err != nil {
			v.add("admin.addr", "%v", err)
		}
	} else {
		v.add("admin.addr", "must be host:port, e.g. %s", DefaultAdminAddr)
	}
	checkEnvName(v, "admin.tokens_env", c.Admin.TokensEnv, false)
	checkEnvName(v, "admin.token_env", c.Admin.TokenEnv, false)
	if err := checkHTTPURL(c.Admin.Server); err != nil {
		v.add("admin.server", "%v", err)
	}
	if c.Worker.Concurrency < 1 {
		v.add("worker.concurrency", "must be at least 1, got %d", c.Worker.Concurrency)
	}
	checkPositive(v, "worker.shutdown_timeout", c.Worker.ShutdownTimeout)
	c.Worker.validate(c.Apps, v)
	checkPositive(v, "scheduler.interval", c.Scheduler.Interval)
	if c.Metrics.Addr != "" {
		if err := checkListenAddr(c.Metrics.Addr); err != nil {
			v.add("metrics.addr", "%v", err)
		}
	}
	checkEnum(v, "log.level", c.Log.Level, LogLevels)
	checkEnum(v, "log.format", c.Log.Format, []string{LogFormatJSON, LogFormatConsole})
	if len(v.problems) == 0 {
		return nil
	}
	// A value set by a variable or a flag is said to be, the problem's own
	// or another its rule is about ("required unless hosts is set" with
	// hosts emptied by a variable): the file named in the error does not
	// hold it. So is an app that only variables define: its "apps[1].name:
	// required" is no mistake in the file, and the variables point to the
	// cause (often a mistyped index).
	for i, p := range v.problems {
		var from []string
		for _, path := range append([]string{p.Path}, v.about[i]...) {
			if name := c.sourceName(path, path == p.Path); name != "" && !slices.Contains(from, name) {
				from = append(from, name)
			}
		}
		// The variables that alone define the problem's app are named
		// once, as such.
		n, inApp := appOf(p.Path)
		onlyFrom := inApp && n < len(c.Apps) && len(c.Apps[n].onlyFrom) > 0 && c.problemSource(p.Path) == "default"
		if onlyFrom {
			from = slices.DeleteFunc(from, func(name string) bool { return slices.Contains(c.Apps[n].onlyFrom, name) })
		}
		if len(from) > 0 {
			v.problems[i].Rule = "from " + andList(from) + ": " + v.problems[i].Rule
		}
		if onlyFrom {
			v.problems[i].Rule = fmt.Sprintf("apps[%d] exists only because of %s: %s", n, strings.Join(c.Apps[n].onlyFrom, ", "), v.problems[i].Rule)
		}
	}
	return &ValidationError{Source: c.file, Problems: v.problems}
}

// sourceName names the variable or flag that set the value at path ("" for
// the file or a default). own says path is the problem's: a flag without a
// name is then "its command-line flag".
func (c *Config) sourceName(path string, own bool) string {
	switch src := c.problemSource(path); {
	case strings.HasPrefix(src, "env "):
		return strings.TrimPrefix(src, "env ")
	case strings.HasPrefix(src, "flag "):
		return strings.TrimPrefix(src, "flag ")
	case src == "flag" && own:
		return "its command-line flag"
	case src == "flag":
		return "the command-line flag of " + path
	}
	return ""
}

// andList renders ["a","b","c"] as "a, b and c".
func andList(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// appOf is the index N of a path in "apps[N]" ("apps[1]", "apps[1].name").
func appOf(path string) (int, bool) {
	rest, ok := strings.CutPrefix(path, "apps[")
	if !ok {
		return 0, false
	}
	n, tail, ok := strings.Cut(rest, "]")
	if !ok || (tail != "" && !strings.HasPrefix(tail, ".")) {
		return 0, false
	}
	i, err := strconv.Atoi(n)
	return i, err == nil && i >= 0
}

// problemSource is where the value a problem at path is about came from:
// its own source, else, for an item of a list ("apps[0].hosts[1]"), the
// list's (an override or a flag sets the whole list).
func (c *Config) problemSource(path string) string {
	if src, ok := c.sources[path]; ok {
		return src
	}
	if i := strings.LastIndexByte(path, '['); i > 0 && strings.HasSuffix(path, "]") {
		return c.Source(path[:i])
	}
	return "default"
}

func (w Worker) validate(apps []App, v *validator) {
	checkPositive(v, "worker.lease", w.Lease)
	for i, a := range apps {
		// The claim's lease runs from the slot's reservation: the way to
		// the call (up to BeforeCall), the call (its timeout bounds the
		// whole call, fail-over hop included) and the recording of the
		// answer (up to store_timeout) must end inside it, or the
		// reconciler settles the send as unknown while its answer is still
		// being recorded.
		if need := BeforeCall + a.Timeout + max(w.StoreTimeout, 0); w.Lease > 0 && a.Timeout > 0 && w.Lease <= need {
			v.addAbout("worker.lease", []string{fmt.Sprintf("apps[%d].timeout", i), "worker.store_timeout"}, "must be longer than %s before the call, apps[%d].timeout %s and worker.store_timeout %s, %s in all (a claimed send must outlast its push call and the recording of the answer), got %s",
				BeforeCall, i, a.Timeout, w.StoreTimeout, need, w.Lease)
			break
		}
	}
	checkPositive(v, "worker.backoff.base", w.Backoff.Base)
	checkPositive(v, "worker.backoff.cap", w.Backoff.Cap)
	if w.Backoff.Base > 0 && w.Backoff.Cap > 0 && w.Backoff.Base > w.Backoff.Cap {
		v.addAbout("worker.backoff.base", []string{"worker.backoff.cap"}, "must not exceed worker.backoff.cap %s, got %s", w.Backoff.Cap, w.Backoff.Base)
	}
	if w.Backoff.MaxAttempts < 1 {
		v.add("worker.backoff.max_attempts", "must be at least 1, got %d", w.Backoff.MaxAttempts)
	}
	checkPositive(v, "worker.inline_wait", w.InlineWait)
	if w.InlineWait > 0 && w.InlineWait < MinInlineWait {
		v.add("worker.inline_wait", "must be at least %s (the scheduler hands a run to the queue 500ms before its instant and the worker waits the rest inline), got %s",
			MinInlineWait, w.InlineWait)
	}
	checkPositive(v, "worker.snooze_lead", w.SnoozeLead)
	checkPositive(v, "worker.max_snooze", w.MaxSnooze)
	checkPositive(v, "worker.attempt_budget", w.AttemptBudget)
	for i, a := range apps {
		// A send starts with at least the budget left on the task and its
		// call runs on the task's context: the way to the call (up to
		// BeforeCall) and the call (its timeout bounds the whole call,
		// fail-over hop included) must fit, or the call is cut mid-request
		// and the send ends unknown.
		if need := BeforeCall + a.Timeout; w.AttemptBudget > 0 && a.Timeout > 0 && w.AttemptBudget < need {
			v.addAbout("worker.attempt_budget", []string{fmt.Sprintf("apps[%d].timeout", i)}, "must be at least %s before the call plus apps[%d].timeout %s, %s (a push call must fit in the task time left when a send starts), got %s",
				BeforeCall, i, a.Timeout, need, w.AttemptBudget)
			break
		}
	}
	for i, a := range apps {
		// At a stop no send starts, but one already claimed goes on to its
		// call on the task's context, which asynq cancels when the
		// shutdown timeout ends: a call cut mid-request ends its send
		// unknown though the service may have answered it.
		if need := BeforeCall + a.Timeout; w.ShutdownTimeout > 0 && a.Timeout > 0 && w.ShutdownTimeout < need {
			v.addAbout("worker.shutdown_timeout", []string{fmt.Sprintf("apps[%d].timeout", i)}, "must be at least %s before the call plus apps[%d].timeout %s, %s (a push call under way at a stop must be let finish), got %s",
				BeforeCall, i, a.Timeout, need, w.ShutdownTimeout)
			break
		}
	}
	for _, d := range []struct {
		path string
		v    time.Duration
	}{{"worker.inline_wait", w.InlineWait}, {"worker.attempt_budget", w.AttemptBudget}} {
		if d.v >= RunTaskTimeout {
			v.add(d.path, "must be shorter than a run task's timeout %s (a run delivered with less left snoozes, a wait cut by the timeout fails): no run would be sent, got %s",
				RunTaskTimeout, d.v)
		}
	}
	checkPositive(v, "worker.store_timeout", w.StoreTimeout)
}

// ValidAppName says whether name may be an app's name (apps[].name).
func ValidAppName(name string) bool { return appNameRE.MatchString(name) }

// AppNameRule is the rule ValidAppName checks, for messages.
const AppNameRule = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"

func (a *App) validate(p string, v *validator) {
	switch {
	case a.Name == "":
		v.add(p+".name", "required")
	case !appNameRE.MatchString(a.Name):
		v.add(p+".name", "must be "+AppNameRule+", got %q", a.Name)
	}
	switch {
	case a.AppKey == "":
		v.add(p+".app_key", "required")
	case strings.ContainsFunc(a.AppKey, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		v.add(p+".app_key", "must not contain spaces or control characters")
	}

	switch {
	case a.AppSecretEnv != "" && a.AppSecretFile != "":
		v.addAbout(p+".app_secret_env", []string{p + ".app_secret_file"}, "set exactly one of app_secret_env and app_secret_file, not both")
	case a.AppSecretEnv == "" && a.AppSecretFile == "":
		if a.Secret.IsZero() {
			v.addAbout(p+".app_secret_env", []string{p + ".app_secret_file"}, "required: set app_secret_env (a variable holding the App Secret) or app_secret_file")
		}
	case a.AppSecretEnv != "":
		if checkEnvName(v, p+".app_secret_env", a.AppSecretEnv, true) && a.secretProblem != "" && v.checksSecret(a.Name) {
			v.add(p+".app_secret_env", "%s", a.secretProblem)
		}
	default:
		if a.secretProblem != "" && v.checksSecret(a.Name) {
			v.add(p+".app_secret_file", "%s", a.secretProblem)
		}
	}

	if a.DataCenter != "" && !slices.Contains(DataCenters, a.DataCenter) {
		v.add(p+".data_center", "must be one of %s, got %q", strings.Join(DataCenters, ", "), a.DataCenter)
	}
	if a.DataCenter == "" && len(a.Hosts) == 0 {
		v.addAbout(p+".data_center", []string{p + ".hosts"}, "required unless hosts is set: one of %s", strings.Join(DataCenters, ", "))
	}
	// Items are named by their index in the file, which may differ from
	// their place in a.Hosts when Load dropped a refused one.
	hostsPath := p + ".hosts"
	hostAt := func(i int) int { return v.itemIndex(hostsPath, a.Hosts, i) }
	firstHost := map[string]int{}
	for i, h := range a.Hosts {
		hp := fmt.Sprintf("%s[%d]", hostsPath, hostAt(i))
		if err := checkHTTPURL(h); err != nil {
			v.add(hp, "%v", err)
			continue
		}
		if j, dup := firstHost[sameHost(h)]; dup && a.Hosts[j] == h {
			v.add(hp, "duplicate of hosts[%d]", hostAt(j))
		} else if dup {
			v.add(hp, "duplicate of hosts[%d] (the same host, spelt differently)", hostAt(j))
		} else {
			firstHost[sameHost(h)] = i
		}
	}
	checkPositive(v, p+".timeout", a.Timeout)
	if u := a.TimestampUnit; u != pushapi.TimestampSeconds && u != pushapi.TimestampMilliseconds {
		v.add(p+".timestamp_unit", "must be %s or %s, got %q", pushapi.TimestampSeconds, pushapi.TimestampMilliseconds, u)
	}
	if maxCall := RunTaskTimeout - BeforeCall; a.Timeout >= maxCall {
		// The call runs inside its run's task: a longer one could never
		// finish. (Checked apart from the worker's sums, which a timeout
		// near the largest duration would overflow.)
		v.add(p+".timeout", "must be shorter than %s (a run task's timeout %s less %s before the call: a push call runs inside its task), got %s",
			maxCall, RunTaskTimeout, BeforeCall, a.Timeout)
	}

	q := a.Quota
	if q.Hourly < 1 {
		v.add(p+".quota.hourly", "must be at least 1, got %d", q.Hourly)
	}
	if q.Daily < 1 {
		v.add(p+".quota.daily", "must be at least 1, got %d", q.Daily)
	}
	checkEnum(v, p+".quota.hour_window", q.HourWindow, []string{HourWindowRolling, HourWindowClock})
	checkEnum(v, p+".quota.day_window", q.DayWindow, []string{DayWindowCalendar, DayWindowRolling})
	switch q.Timezone {
	case "":
		v.add(p+".quota.timezone", "required: an IANA time zone such as %s or UTC", DefaultQuotaTimezone)
	default:
		if _, err := calendar.LoadZone(q.Timezone); err != nil {
			v.add(p+".quota.timezone", "%v", err)
		}
	}
}

func checkEnum(v *validator, path, got string, allowed []string) {
	if !slices.Contains(allowed, got) {
		v.add(path, "must be %s, got %q", orList(allowed), got)
	}
}

// orList renders ["a","b","c"] as "a, b or c".
func orList(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func checkPositive(v *validator, path string, d time.Duration) {
	if d <= 0 {
		v.add(path, "must be a positive duration, got %s", d)
	}
}

// checkEnvName reports whether name is usable as an environment variable name
// (empty allowed unless required).
func checkEnvName(v *validator, path, name string, required bool) bool {
	if name == "" && !required {
		return true
	}
	if !envNameRE.MatchString(name) {
		v.add(path, "must be an environment variable name (letters, digits, '_'); got %d characters, not shown (is it the secret itself?)", len(name))
		return false
	}
	return true
}

// checkListenAddr accepts host:port (the host may be empty: every
// interface). Its errors quote the address redacted: a URL with a password
// typed where a listen address belongs must not be shown.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || strings.ContainsAny(host, "@/?#") {
		return fmt.Errorf("must be host:port, e.g. %s (a listen address, not a URL), got %q", DefaultAdminAddr, RedactURL(addr))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be a number from 0 to 65535, got %q", port)
	}
	return nil
}

// checkHTTPURL accepts an absolute http(s) base URL without credentials, query
// or fragment. Its errors never quote the URL (it may hold a password).
func checkHTTPURL(raw string) error {
	const want = "must be an absolute http:// or https:// URL"
	scheme, _, ok := strings.Cut(raw, "://")
	switch {
	case raw == "":
		return fmt.Errorf("required: an absolute http:// or https:// URL")
	case !ok:
		return fmt.Errorf("%s", want)
	case scheme != "http" && scheme != "https":
		return fmt.Errorf("%s, got scheme %q", want, scheme)
	}
	if passwordSpilled(raw) {
		// "https://gw:12/S3CRET@push.example.com": a password with an
		// unencoded '/' read as a path, the host another than meant.
		return fmt.Errorf("must not contain credentials; %w", errPasswordSpilled)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("is not a valid URL")
	case u.Host == "":
		return fmt.Errorf("must name a host")
	case u.User != nil:
		return fmt.Errorf("must not contain credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("must not have a query or fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be a number from 1 to 65535, got %q", p)
		}
	}
	return nil
}

// sameHost is the form of an http(s) base URL under which two spellings the
// client treats as one host compare equal: scheme and host in lower case, the
// scheme's default port and trailing slashes dropped.
func sameHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/")
}

// Database drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Driver returns DriverSQLite or DriverPostgres from the URL's scheme, or ""
// for anything else.
func (d Database) Driver() string {
	scheme, _, _ := strings.Cut(d.URL, "://")
	switch scheme {
	case "sqlite":
		return DriverSQLite
	case "postgres", "postgresql":
		return DriverPostgres
	}
	return ""
}

// SQLitePath is the file name of a sqlite:// URL (sqlite://tagcast.db ->
// "tagcast.db", sqlite:///var/lib/tagcast.db -> "/var/lib/tagcast.db"),
// query included.
func (d Database) SQLitePath() (string, bool) {
	return strings.CutPrefix(d.URL, "sqlite://")
}

// sqliteInMemory reports whether the SQLite path p (after sqlite://) names
// an in-memory database in any of the driver's spellings: ":memory:", a
// file: URI with no name or that name, mode=memory, or the memdb VFS.
func sqliteInMemory(p string) bool {
	name, query, _ := strings.Cut(p, "?")
	name = strings.TrimPrefix(name, "file:")
	if name == "" || name == ":memory:" {
		return true
	}
	q, err := url.ParseQuery(query)
	return err == nil && (q.Get("mode") == "memory" || q.Get("vfs") == "memdb")
}

func checkDatabaseURL(raw string) error {
	const want = "must be sqlite://FILE, postgres:// or postgresql://"
	if raw == "" {
		return fmt.Errorf("required: %s", want)
	}
	switch (Database{URL: raw}).Driver() {
	case DriverSQLite:
		p, _ := (Database{URL: raw}).SQLitePath()
		if p == "" || strings.HasPrefix(p, "?") {
			return fmt.Errorf("sqlite:// must be followed by a file name, e.g. sqlite://tagcast.db")
		}
		// The store holds the quota ledger and every send's outcome: one
		// that dies with the process lets the next process (each `push
		// send`, a restarted `serve`) forget what was sent and go over
		// quota.
		if sqliteInMemory(p) {
			return fmt.Errorf("must name a file, not an in-memory database: the store keeps the quota ledger and what was sent, and an in-memory one forgets them when the process ends")
		}
		return nil
	case DriverPostgres:
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("is not a valid URL (percent-encode special characters in the password)")
		}
		if passwordSpilled(raw) {
			return errPasswordSpilled
		}
		if u.Fragment != "" || strings.Contains(raw, "#") {
			return errFragment
		}
		if authorityAts(raw) > 1 {
			return errPostgresAts
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return fmt.Errorf("must name a host, e.g. postgres://user@host:5432/tagcast")
		}
		return checkPostgresParams(u)
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return fmt.Errorf("%s (a URL with a scheme)", want)
	}
	return fmt.Errorf("%s, got scheme %q", want, scheme)
}

// RedisTarget is a parsed redis.url. Schemes (the same forms as
// asynq.ParseRedisURI, plus the sentinel's own password):
//
//	redis://[user:password@]host[:port][/db]
//	rediss://[user:password@]host[:port][/db]        (TLS)
//	redis-socket://[user:password@]/path/to/redis.sock[?db=N]
//	redis-sentinel://[user:password@]host1[:port][,host2[:port]...][/db]?master=NAME[&sentinel_password=P]
//
// For redis-sentinel, user and password authenticate to the Redis master and
// sentinel_password to the sentinels. Default ports: 6379, sentinels 26379.
type RedisTarget struct {
	Scheme           string
	Addrs            []string // host:port; the sentinels for redis-sentinel; the socket path for redis-socket
	MasterName       string
	Username         string
	Password         Secret
	SentinelPassword Secret
	DB               int
	TLS              bool
}

// ParseRedisURL parses a non-empty redis.url. Its errors never quote the URL.
func ParseRedisURL(raw string) (*RedisTarget, error) {
	const want = "must be redis://, rediss://, redis-socket:// or redis-sentinel:// (or empty for the embedded Redis)"
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("%s", want)
	}
	t := &RedisTarget{Scheme: scheme}
	// The sentinel form lists several hosts, which url.Parse rejects as a
	// port; parse it with a placeholder host and put the list back.
	var hostList string
	if scheme == "redis-sentinel" {
		beforeQuery, query, hasQuery := strings.Cut(rest, "?")
		authority, path, hasPath := strings.Cut(beforeQuery, "/")
		userinfo := ""
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			userinfo, authority = authority[:at+1], authority[at+1:]
		}
		hostList = authority
		rest = userinfo + "sentinels"
		if hasPath {
			rest += "/" + path
		}
		if hasQuery {
			rest += "?" + query
		}
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		return nil, fmt.Errorf("is not a valid URL (percent-encode special characters in the password)")
	}
	if passwordSpilled(raw) {
		return nil, errPasswordSpilled
	}
	if strings.Contains(raw, "#") {
		return nil, errFragment
	}
	if err := onlyParams(u.Query(), redisParams[scheme]); err != nil {
		return nil, err
	}
	if u.User != nil {
		t.Username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			t.Password = NewSecret(p)
		}
	}
	q := u.Query()
	switch scheme {
	case "redis", "rediss":
		t.TLS = scheme == "rediss"
		if u.Hostname() == "" {
			return nil, fmt.Errorf("must name a host, e.g. redis://127.0.0.1:6379/0")
		}
		addr, err := withDefaultPort(u.Host, "6379")
		if err != nil {
			return nil, err
		}
		t.Addrs = []string{addr}
		if t.DB, err = redisDB(u.Path, q); err != nil {
			return nil, err
		}
	case "redis-socket":
		if u.Path == "" {
			return nil, fmt.Errorf("redis-socket:// must be followed by the socket path, e.g. redis-socket:///run/redis.sock")
		}
		t.Addrs = []string{u.Path}
		if t.DB, err = redisDB("", q); err != nil {
			return nil, err
		}
	case "redis-sentinel":
		for h := range strings.SplitSeq(hostList, ",") {
			if h == "" {
				return nil, fmt.Errorf("redis-sentinel:// needs host[:port] of each sentinel, comma-separated")
			}
			addr, err := withDefaultPort(h, "26379")
			if err != nil {
				return nil, err
			}
			t.Addrs = append(t.Addrs, addr)
		}
		if t.MasterName = q.Get("master"); t.MasterName == "" {
			return nil, fmt.Errorf("redis-sentinel:// needs ?master=NAME, the name the sentinels monitor")
		}
		if p := q.Get("sentinel_password"); p != "" {
			t.SentinelPassword = NewSecret(p)
		}
		if t.DB, err = redisDB(u.Path, q); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s, got scheme %q", want, scheme)
	}
	return t, nil
}

// redisParams are the query parameters each redis.url scheme takes.
var redisParams = map[string][]string{
	"redis":          {"db"},
	"rediss":         {"db"},
	"redis-socket":   {"db"},
	"redis-sentinel": {"db", "master", "sentinel_password"},
}

// onlyParams refuses a query parameter not in known (a misspelt
// sentinel_password, a ?password= the URL form does not take): it would be
// dropped in silence. Call it after passwordSpilled, so no name it quotes can
// be part of a password.
func onlyParams(q url.Values, known []string) error {
	names := slices.Sorted(maps.Keys(q))
	secret := slices.ContainsFunc(names, sensitiveParam)
	for _, name := range names {
		if !slices.Contains(known, name) {
			if secret {
				// Maybe the tail of a password holding an unencoded '&':
				// not quoted.
				return fmt.Errorf("has a query parameter tagcast does not know (known: %s); if a password holds '&', '+' or '%%', percent-encode them (%%26, %%2B, %%25)", strings.Join(known, ", "))
			}
			if len(known) == 0 {
				return fmt.Errorf("takes no query parameter, got %q", name)
			}
			return fmt.Errorf("unknown query parameter %q (known: %s)", name, strings.Join(known, ", "))
		}
	}
	return nil
}

// errPasswordSpilled names the problem passwordSpilled finds without quoting
// any of the URL.
var errPasswordSpilled = errors.New("has an unencoded '@' after the host: percent-encode '@' in query values and the database name (%40), and '/', '?', '#' in the password (%2F, %3F, %23); otherwise the URL can name another host than meant, and part of the password ends up where it is shown")

// errFragment refuses a '#' in a store or Redis URL, without quoting what
// follows it: no such URL has a fragment, and the text after an unencoded
// '#' is most likely the rest of a password given as a query value.
var errFragment = errors.New("has an unencoded '#': percent-encode '#' in a password (%23); the text after it would be dropped from the password and shown where the URL is")

// errPostgresAts names the problem of a PostgreSQL URL whose user
// information holds an unencoded '@', without quoting any of it.
var errPostgresAts = errors.New("has more than one unencoded '@' before the host: percent-encode '@' in the user name and password (%40); " +
	"the PostgreSQL driver ends the password at the first '@', takes the rest of it for the host, and shows it in its connection errors")

// authorityAts counts the '@'s of raw's authority (the text after "://" up
// to the first '/', '?' or '#'). url.Parse ends the user information at
// the last one, pgx (as libpq) at the first: with more than one they
// disagree on the host and the password.
func authorityAts(raw string) int {
	_, rest, _ := strings.Cut(raw, "://")
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		rest = rest[:end]
	}
	return strings.Count(rest, "@")
}

// passwordSpilled reports whether raw has a literal '@' after its authority
// (the text after "://" up to the first '/', '?' or '#'). A password with an
// unencoded '/', '?' or '#' ends the authority there: url.Parse reads
// "user:12" as a host and port and leaves the rest of the password, up to
// its '@', in the path, the query or the fragment, where it would be shown.
// No '@' has a use there unencoded (a query value or a database name may
// hold one as %40), so any is refused, and nothing after the authority is
// quoted.
func passwordSpilled(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return false
	}
	end := strings.IndexAny(rest, "/?#")
	return end >= 0 && strings.Contains(rest[end:], "@")
}

// sslModes are the sslmode values libpq and pgx know.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// checkPostgresParams checks what pgx would refuse at the first connection:
// a port out of range (in the host list or ?port=) and an unknown sslmode.
func checkPostgresParams(u *url.URL) error {
	ports := u.Query()["port"]
	for _, hp := range strings.Split(u.Host, ",") {
		if _, p, err := net.SplitHostPort(hp); err == nil {
			ports = append(ports, p)
		}
	}
	for _, p := range ports {
		for _, one := range strings.Split(p, ",") {
			if n, err := strconv.Atoi(one); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("port must be a number from 1 to 65535, got %q", one)
			}
		}
	}
	if m := u.Query().Get("sslmode"); m != "" && !slices.Contains(sslModes, m) {
		return fmt.Errorf("sslmode must be one of %s, got %q", strings.Join(sslModes, ", "), m)
	}
	return nil
}

func withDefaultPort(hostport, port string) (string, error) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port (or an IPv6 literal in brackets without one).
		h, p = strings.Trim(hostport, "[]"), port
	}
	if h == "" {
		return "", fmt.Errorf("must name a host")
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port must be a number from 1 to 65535")
	}
	return net.JoinHostPort(h, p), nil
}

func redisDB(path string, q url.Values) (int, error) {
	s := strings.Trim(path, "/")
	if s != "" && q.Get("db") != "" {
		return 0, fmt.Errorf("names the database twice (path /%s and ?db=%s): give one", s, q.Get("db"))
	}
	if s == "" {
		s = q.Get("db")
	}
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("database number must be a non-negative integer, got %q", s)
	}
	return n, nil
}
