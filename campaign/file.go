package campaign

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/tagcast/tagcast/pushapi"
)

// FieldProblem is one problem of a campaign file: the JSON path of the field
// and the rule it breaks.
type FieldProblem struct {
	Path string `json:"path"`
	Rule string `json:"rule"`
}

func (p FieldProblem) String() string {
	if p.Path == "" {
		return p.Rule
	}
	return p.Path + ": " + p.Rule
}

// ValidationError lists every problem found in a campaign, in file order.
type ValidationError struct {
	Problems []FieldProblem
}

// Error lists the problems as "path: rule", separated by "; " (the first
// pushapi.MaxListedProblems of them, the rest counted; Problems holds all).
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return pushapi.ProblemsMessage("campaign", parts)
}

func (e *ValidationError) add(path, format string, a ...any) {
	e.Problems = append(e.Problems, FieldProblem{Path: path, Rule: fmt.Sprintf(format, a...)})
}

// MaxNameChars is the longest campaign name, in characters.
const MaxNameChars = 200

// noNUL reports every text under v (a string, or vars' maps and lists,
// keys included) that holds a NUL character (U+0000).
func noNUL(verr *ValidationError, path string, v any) {
	noNULAt(verr, &fieldPath{base: path}, v)
}

func noNULAt(verr *ValidationError, p *fieldPath, v any) {
	const rule = "must not contain a NUL character (U+0000)"
	switch t := v.(type) {
	case string:
		if strings.ContainsRune(t, 0) {
			verr.add(p.String(), rule)
		}
	case map[string]any:
		keys := slices.Sorted(maps.Keys(t))
		for _, k := range keys {
			if strings.ContainsRune(k, 0) {
				verr.add(p.String(), "key %q: %s", k, rule)
				continue
			}
			p.key(k)
			noNULAt(verr, p, t[k])
			p.up()
		}
	case []any:
		for i, e := range t {
			p.index(i)
			noNULAt(verr, p, e)
			p.up()
		}
	}
}

// noNull refuses a null anywhere in vars: a template printing it would push
// the text "<no value>".
func noNull(verr *ValidationError, path string, v any) {
	noNullAt(verr, &fieldPath{base: path}, v)
}

func noNullAt(verr *ValidationError, p *fieldPath, v any) {
	switch t := v.(type) {
	case nil:
		verr.add(p.String(), "must not be null (a template would print it as <no value>); give a value or leave the key out")
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			p.key(k)
			noNullAt(verr, p, t[k])
			p.up()
		}
	case []any:
		for i, e := range t {
			p.index(i)
			noNullAt(verr, p, e)
			p.up()
		}
	}
}

// fieldPath is the path of the value a walk is at ("vars.a[2].b"), kept as
// one segment per level below base and written out only when a problem is
// reported there: writing it at every level would cost memory and time in
// the square of the nesting depth (a 19 KB file of nested lists cost about
// 430 MiB to be refused). As it is written, a key follows a dot (but at the
// start of an empty path: the root of a JSON file, or its empty key), and
// an index is in brackets.
type fieldPath struct {
	base string
	segs []pathSegment
}

// pathSegment is one level of a fieldPath: a mapping's key, or a list's
// index.
type pathSegment struct {
	key    string
	index  int
	inList bool // index, not key
}

func (p *fieldPath) key(k string) { p.segs = append(p.segs, pathSegment{key: k}) }
func (p *fieldPath) index(i int)  { p.segs = append(p.segs, pathSegment{index: i, inList: true}) }
func (p *fieldPath) up()          { p.segs = p.segs[:len(p.segs)-1] }

func (p *fieldPath) String() string {
	var b strings.Builder
	b.WriteString(p.base)
	for _, s := range p.segs {
		switch {
		case s.inList:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		case b.Len() > 0:
			b.WriteByte('.')
			b.WriteString(s.key)
		default:
			b.WriteString(s.key)
		}
	}
	return b.String()
}

// MaxNestingDepth is how many levels of mappings and lists vars and each
// extras object may nest, their own mapping included: {"a": [[1]]} nests 3
// levels. Templates reach a few levels into vars (.Vars.order.items), and an
// app reads its extras out of a push payload of a few KB: 64 is far more
// than either needs. A campaign nested deeper is refused at creation (JSON
// and YAML are read up to 10,000 levels), so none reaches pushapi's checks
// of its body, whose cost grows with the square of the depth of extras.
const MaxNestingDepth = 64

// tooDeep reports the first mapping or list under v (v included, a
// mapping's keys in order) that lies more than MaxNestingDepth levels deep,
// at its path, and says whether there is one. It looks no deeper.
func tooDeep(verr *ValidationError, path string, v any) bool {
	p := &fieldPath{base: path}
	report := func() bool {
		verr.add(p.String(), "nested more than %d levels deep (vars and extras allow at most %d levels of mappings and lists)",
			MaxNestingDepth, MaxNestingDepth)
		return true
	}
	var walk func(v any, depth int) bool
	walk = func(v any, depth int) bool {
		switch t := v.(type) {
		case map[string]any:
			if depth > MaxNestingDepth {
				return report()
			}
			for _, k := range slices.Sorted(maps.Keys(t)) {
				p.key(k)
				deep := walk(t[k], depth+1)
				p.up()
				if deep {
					return true
				}
			}
		case []any:
			if depth > MaxNestingDepth {
				return report()
			}
			for i, e := range t {
				p.index(i)
				deep := walk(e, depth+1)
				p.up()
				if deep {
					return true
				}
			}
		}
		return false
	}
	return walk(v, 1)
}

// extrasAt is an extras object of a push body and its path in a campaign
// file.
type extrasAt struct {
	path   string
	extras pushapi.Extras
}

// pushExtras lists the extras objects of a push body.
func pushExtras(r *pushapi.Request) []extrasAt {
	n := r.Notification
	if n == nil {
		return nil
	}
	var out []extrasAt
	if n.IOS != nil {
		out = append(out, extrasAt{"push.notification.ios.extras", n.IOS.Extras})
	}
	if n.Android != nil {
		out = append(out, extrasAt{"push.notification.android.extras", n.Android.Extras})
	}
	if n.HarmonyOS != nil {
		out = append(out, extrasAt{"push.notification.harmonyOS.extras", n.HarmonyOS.Extras})
	}
	return out
}

// reported says whether a problem at path is already listed.
func (e *ValidationError) reported(path string) bool {
	return slices.ContainsFunc(e.Problems, func(p FieldProblem) bool { return p.Path == path })
}

// ValidateOptions carries what validation needs from outside.
type ValidateOptions struct {
	// Now is the creation time (an injected clock): `at` must not be before it.
	Now time.Time
	// Apps are the configured app names; a campaign must name one of them.
	Apps []string
}

// maxCronHorizon is how far ahead a cron's first fire may be.
const maxCronHorizon = 5 * 365 * 24 * time.Hour

// file is the shape of a campaign file (DESIGN.md "Campaign files").
type file struct {
	Name     string          `json:"name"`
	App      string          `json:"app"`
	Schedule fileSchedule    `json:"schedule"`
	Vars     map[string]any  `json:"vars"`
	Push     pushapi.Request `json:"push"`
}

type fileSchedule struct {
	At            string `json:"at"`
	Cron          string `json:"cron"`
	Now           bool   `json:"now"`
	Timezone      string `json:"timezone"`
	Missed        string `json:"missed"`
	DeliverWithin string `json:"deliver_within"`
	Start         string `json:"start"`
	End           string `json:"end"`
}

// ParseFile reads a campaign file (YAML or JSON), validates it and returns
// the campaign ready for Store.Create: status active, next_run_at its first
// fire. Any problem comes back as a *ValidationError listing all of them.
func ParseFile(data []byte, opts ValidateOptions) (Campaign, error) {
	raw, err := decodeFile(data)
	if fe := (fieldError{}); errors.As(err, &fe) {
		return Campaign{}, &ValidationError{Problems: []FieldProblem{fe.FieldProblem}}
	}
	if err != nil {
		return Campaign{}, &ValidationError{Problems: []FieldProblem{{Rule: "not YAML or JSON: " + err.Error()}}}
	}
	generic, err := normalize(raw)
	if err != nil {
		return Campaign{}, &ValidationError{Problems: []FieldProblem{{Rule: err.Error()}}}
	}
	if _, ok := generic.(map[string]any); !ok {
		return Campaign{}, &ValidationError{Problems: []FieldProblem{{Rule: "a campaign file is a mapping (name, app, schedule, vars, push)"}}}
	}
	verr := &ValidationError{}
	checkShape(verr, "", generic, reflect.TypeFor[file]())
	if len(verr.Problems) > 0 && hasTypeProblem(verr) {
		return Campaign{}, verr
	}
	js, err := json.Marshal(generic)
	if err != nil {
		return Campaign{}, fmt.Errorf("campaign file: %w", err)
	}
	var f file
	// Numbers as their text (json.Number): vars keep 9007199254740993 and
	// 12345678 exactly, as the store does when it reads them back, so a
	// template renders at creation what it renders at every fire.
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		verr.add("", "%v", err)
		return Campaign{}, verr
	}
	c := Campaign{Name: f.Name, App: f.App, Push: f.Push, Vars: f.Vars, Status: CampaignActive}
	c.Schedule = parseSchedule(verr, f.Schedule)
	validate(verr, &c, opts)
	if len(verr.Problems) > 0 {
		return Campaign{}, verr
	}
	return c, nil
}

// Validate checks a campaign built elsewhere (e.g. decoded by the admin API)
// by the same rules as ParseFile and sets its next_run_at. Every problem
// comes back at once as a *ValidationError.
func Validate(c *Campaign, opts ValidateOptions) error {
	verr := &ValidationError{}
	validate(verr, c, opts)
	if len(verr.Problems) > 0 {
		return verr
	}
	return nil
}

// parseSchedule converts the file's strings, recording problems.
func parseSchedule(verr *ValidationError, fs fileSchedule) Schedule {
	s := Schedule{Cron: strings.TrimSpace(fs.Cron), Now: fs.Now, Timezone: fs.Timezone, Missed: MissedPolicy(fs.Missed)}
	parseTime := func(path, v string) *time.Time {
		if v == "" {
			return nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			verr.add(path, "must be an RFC 3339 time such as 2026-12-01T09:00:00+08:00, got %q", v)
			return nil
		}
		// The store keeps instants in UTC to the microsecond, rounded up,
		// and RFC 3339 has four-digit years: 9999-12-31T23:59:59-01:00, or
		// the last nanoseconds of 9999, fall in year 10000 there.
		if y := t.UTC().Add(time.Microsecond - time.Nanosecond).Year(); t.UTC().Year() < 1 || y > 9999 {
			verr.add(path, "must fall within the years 0001 to 9999 in UTC, got %q", v)
			return nil
		}
		return &t
	}
	s.At = parseTime("schedule.at", fs.At)
	if fs.At != "" && s.At == nil {
		s.At = &time.Time{} // keep "at" chosen for the one-of check
	}
	s.Start = parseTime("schedule.start", fs.Start)
	s.End = parseTime("schedule.end", fs.End)
	if fs.DeliverWithin != "" {
		d, err := time.ParseDuration(fs.DeliverWithin)
		switch {
		case err != nil:
			verr.add("schedule.deliver_within", "must be a duration such as 2h or 30m, got %q", fs.DeliverWithin)
		case d <= 0:
			verr.add("schedule.deliver_within", "must be positive, got %s", fs.DeliverWithin)
		default:
			s.DeliverWithin = d
		}
	}
	return s
}

// validate checks every rule on c and sets c.NextRunAt.
func validate(verr *ValidationError, c *Campaign, opts ValidateOptions) {
	switch n := utf8.RuneCountInString(c.Name); {
	case strings.TrimSpace(c.Name) == "":
		verr.add("name", "required")
	case n > MaxNameChars:
		verr.add("name", "at most %d characters, got %d", MaxNameChars, n)
	}
	// PostgreSQL stores no NUL in text or jsonb: refused here, for both
	// dialects alike (the body's texts are checked by pushapi's rules).
	noNUL(verr, "name", c.Name)
	// vars nested too deep is reported alone: a problem deeper down would
	// be listed with a path of thousands of levels, each.
	if !tooDeep(verr, "vars", c.Vars) {
		noNUL(verr, "vars", c.Vars)
		noNull(verr, "vars", c.Vars)
	}
	switch {
	case c.App == "":
		verr.add("app", "required (one of the configured apps: %s)", strings.Join(opts.Apps, ", "))
	case !slices.Contains(opts.Apps, c.App):
		verr.add("app", "%q is not a configured app (configured: %s)", c.App, strings.Join(opts.Apps, ", "))
	}
	s := &c.Schedule
	if s.Missed == "" {
		s.Missed = MissedOnce
	}
	if s.Missed != MissedSkip && s.Missed != MissedOnce {
		verr.add("schedule.missed", "must be skip or once, got %q", s.Missed)
	}
	kinds := 0
	for _, set := range []bool{s.At != nil, s.Cron != "", s.Now} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		verr.add("schedule", "exactly one of at, cron or now is required, got %d", kinds)
	}
	badTZ := false
	if s.Timezone != "" {
		if _, err := LoadZone(s.Timezone); err != nil {
			verr.add("schedule.timezone", "%v", err)
			badTZ = true
		}
	}
	if s.Cron == "" && (s.Start != nil || s.End != nil) {
		verr.add("schedule", "start and end apply to cron schedules only")
	}
	if s.Start != nil && s.End != nil && !s.Start.Before(*s.End) {
		verr.add("schedule.end", "must be after schedule.start")
	}
	now := opts.Now
	fireTime := now
	var next *time.Time
	switch {
	case kinds != 1:
	case s.At != nil:
		switch {
		case s.At.IsZero() && verr.reported("schedule.at"): // unparsable
		case s.At.Before(now):
			verr.add("schedule.at", "%s is in the past (now %s)", s.At.Format(time.RFC3339), now.In(s.At.Location()).Format(time.RFC3339))
		default:
			at := s.At.UTC()
			fireTime, next = at, &at
		}
	case s.Cron != "":
		if _, _, err := ParseCron(s.Cron, ""); err != nil {
			verr.add("schedule.cron", "%v", err)
			break
		}
		z, hasTZ := cronTZ(s.Cron)
		if hasTZ && s.Timezone != "" && z != s.Timezone {
			verr.add("schedule.timezone", "%q conflicts with CRON_TZ=%s in schedule.cron", s.Timezone, z)
		}
		// The first fire by Schedule.FirstFire, end aside so that "never
		// before the end" and "never" are told apart; a time zone already
		// reported unknown is replaced by UTC (CRON_TZ= wins anyway).
		open := *s
		open.End = nil
		if hasTZ || badTZ {
			open.Timezone = ""
		}
		first, ok, err := open.FirstFire(now)
		from := now
		if s.Start != nil && s.Start.After(from) {
			from = *s.Start
		}
		switch {
		case err != nil:
			verr.add("schedule.cron", "%v", err)
		case !ok || first.Sub(from) > maxCronHorizon:
			verr.add("schedule.cron", "%q has no fire time within 5 years", s.Cron)
		case s.End != nil && !first.Before(*s.End):
			verr.add("schedule.end", "the cron has no fire time before the end (first would be %s)", first.Format(time.RFC3339))
		default:
			fireTime, next = first, &first
		}
	case s.Now:
		u := now.UTC()
		next = &u
	}
	c.NextRunAt = next
	if c.Status == "" {
		c.Status = CampaignActive
	}
	// An extras object nested too deep is reported alone, the push body
	// unchecked: pushapi's checks would walk it writing a path per level.
	deep := false
	for _, e := range pushExtras(&c.Push) {
		if tooDeep(verr, e.path, map[string]any(e.extras)) {
			deep = true
		}
	}
	if !deep {
		validatePush(verr, *c, fireTime)
	}
}

// validatePush renders the templates against the declared vars (an unknown
// variable is an error) and checks every send body by pushapi's rules.
func validatePush(verr *ValidationError, c Campaign, fireTime time.Time) {
	if _, err := c.Schedule.Location(); err != nil {
		c.Schedule.Timezone, c.Schedule.Cron = "", "" // reported above; render in UTC
	}
	body, err := Render(c, fireTime)
	if err != nil {
		var rerr *RenderError
		if !errors.As(err, &rerr) {
			verr.add("push", "%v", err)
			return
		}
		for _, p := range rerr.Problems {
			verr.add("push."+p.Path, "%s", p.Rule)
		}
		body = c.Push
	} else {
		// What the first fire did not execute names vars too.
		for _, p := range checkTemplateNames(c, fireTime) {
			verr.add("push."+p.Path, "%s", p.Rule)
		}
	}
	seen := map[string]bool{}
	firstAt := map[string]int{} // a user id → its first place in the file
	for i, id := range body.Audience.UserID {
		if _, ok := firstAt[id]; !ok {
			firstAt[id] = i
		}
	}
	for _, chunk := range Split(body) {
		err := chunk.Validate()
		if err == nil {
			continue
		}
		var pv *pushapi.ValidationError
		if !errors.As(err, &pv) {
			verr.add("push", "%v", err)
			continue
		}
		for _, fe := range pv.Problems {
			p := FieldProblem{Path: "push." + userIDInFile(fe.Path, chunk.Audience.UserID, firstAt), Rule: fe.Rule}
			if fe.Path == "" {
				p.Path = "push"
			}
			if !seen[p.String()] {
				seen[p.String()] = true
				verr.Problems = append(verr.Problems, p)
			}
		}
	}
}

// userIDInFile turns a chunk's audience.userid[j] path into the place of
// that id in the file: a chunk holds at most MaxUserIDsPerSend of the
// file's ids, duplicates dropped, so its own index names another entry.
func userIDInFile(path string, chunk []string, firstAt map[string]int) string {
	rest, ok := strings.CutPrefix(path, "audience.userid[")
	if !ok {
		return path
	}
	n, tail, ok := strings.Cut(rest, "]")
	j, err := strconv.Atoi(n)
	if !ok || err != nil || j < 0 || j >= len(chunk) {
		return path
	}
	i, ok := firstAt[chunk[j]]
	if !ok {
		return path
	}
	return "audience.userid[" + strconv.Itoa(i) + "]" + tail
}

// errOneCampaign refuses a file holding a second document ("---" in YAML,
// a second value in JSON): one file is one campaign, and creating the first
// while dropping the others in silence would lose them.
var errOneCampaign = errors.New("a campaign file holds one campaign: found a second document; split the campaigns into files of their own")

// errSecondDocument is decodeYAML's refusal of a second document; a
// campaign file's reader says errOneCampaign instead, a body's reader
// (YAMLToJSON: a push or tag body) this.
var errSecondDocument = errors.New("the file holds one YAML document: found a second one (after ---)")

// decodeFile reads a campaign file into a generic value. A JSON document is
// read as JSON: YAML's parser refuses JSON's surrogate-pair escapes
// ("\ud83d\ude00", how many tools write an emoji). In YAML, an unquoted
// timestamp stays the text it was written as, so "at: 2031-12-01 09:00:00"
// meets the RFC 3339 rule (and is refused for its missing zone) instead of
// being read as UTC.
func decodeFile(data []byte) (any, error) {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' && utf8.Valid(t) {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err == nil {
			_, err := dec.Token()
			if errors.Is(err, io.EOF) {
				// encoding/json keeps the last of two equal keys in
				// silence; YAML refused them, and so does this.
				if path, dup := duplicateKey(t); dup {
					return nil, fmt.Errorf("key %s is given twice", path)
				}
				// Read as U+FFFD in silence: a tag "vip-\ud83c" would
				// push to a tag nobody has (YAML refuses the escape).
				if path, lone := pushapi.LoneSurrogate(t); lone {
					return nil, fmt.Errorf("%s %s", path, pushapi.LoneSurrogateRule)
				}
				return v, nil
			}
			if err == nil {
				// A whole JSON value followed by another: reading the
				// first and dropping the rest would lose a campaign.
				return nil, errOneCampaign
			}
		}
		// Not one JSON document (or not UTF-8): maybe YAML's flow style;
		// YAML says.
	}
	v, err := decodeYAML(data)
	if errors.Is(err, errSecondDocument) {
		return nil, errOneCampaign
	}
	return v, err
}

// YAMLToJSON reads data, one YAML document, as the JSON a campaign file's
// YAML is read as: an unquoted timestamp stays the text written, a number
// YAML cannot keep exactly is refused naming its path, a key given twice
// and a second document are refused. (tagcast push and tags read their
// YAML bodies with it.)
func YAMLToJSON(data []byte) ([]byte, error) {
	v, err := decodeYAML(data)
	if err != nil {
		return nil, err
	}
	fix, err := jsonable(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(fix)
}

// decodeYAML reads data, one YAML document, into a generic value (nil
// when empty).
func decodeYAML(data []byte) (any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty: not a mapping, as the caller reports
		}
		return nil, err
	}
	if doc.Kind == 0 {
		return nil, nil
	}
	for {
		// A trailing "---" (alone, or with only comments after it) opens
		// no second campaign.
		var more yaml.Node
		err := dec.Decode(&more)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if !emptyDocument(&more) {
			return nil, errSecondDocument
		}
	}
	timestampsAsText(&doc)
	if p := inexactNumber(&doc, nil); p != nil {
		return nil, fieldError{*p}
	}
	mark, err := numberMark()
	if err != nil {
		return nil, err
	}
	numbersAsMarkedText(&doc, mark)
	var v any
	if err := doc.Decode(&v); err != nil {
		// yaml.v3 quotes a key it refuses (given twice): as written.
		return nil, errors.New(strings.ReplaceAll(err.Error(), mark, ""))
	}
	return markedNumbers(v, mark)
}

// numberMark is a prefix no text of a document holds (16 random bytes):
// numbersAsMarkedText writes it before each number's text, and
// markedNumbers turns such texts back into numbers. Printable, so that it
// can be taken out of yaml.v3's messages, which quote keys.
func numberMark() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("campaign: reading YAML numbers: %w", err)
	}
	return "tagcast-number-" + hex.EncodeToString(b[:]) + ":", nil
}

// numbersAsMarkedText turns each number of the document (a JSON number as
// written: inexactNumber refused any other spelling) into the text mark +
// its text, so that YAML's decoding keeps it as written: yaml.v3 reads
// 19.90 as 19.9 and 1e3 as 1000 (and 0123 as 83, which inexactNumber
// refuses). Aliases share the anchored node: their numbers follow it.
func numbersAsMarkedText(n *yaml.Node, mark string) {
	if n.Kind == yaml.ScalarNode {
		if t := n.ShortTag(); t == "!!int" || t == "!!float" {
			n.Tag, n.Value = "!!str", mark+n.Value
		}
		return
	}
	for _, c := range n.Content {
		numbersAsMarkedText(c, mark)
	}
}

// markedNumbers turns the marked texts of v (numbersAsMarkedText) back
// into numbers (json.Number, their text as written), keys into their text.
func markedNumbers(v any, mark string) (any, error) {
	switch t := v.(type) {
	case string:
		if rest, ok := strings.CutPrefix(t, mark); ok {
			return json.Number(rest), nil
		}
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			key := strings.TrimPrefix(k, mark)
			if _, dup := out[key]; dup {
				// 1 and "1": two keys to YAML, one to JSON.
				return nil, fmt.Errorf("the key %q is given twice (once as text, once as a number): quote both alike", key)
			}
			m, err := markedNumbers(e, mark)
			if err != nil {
				return nil, err
			}
			out[key] = m
		}
		return out, nil
	case map[any]any:
		out := make(map[any]any, len(t))
		for k, e := range t {
			if ks, ok := k.(string); ok {
				k = strings.TrimPrefix(ks, mark)
			}
			if _, dup := out[k]; dup {
				return nil, fmt.Errorf("the key %q is given twice (once as text, once as a number): quote both alike", fmt.Sprint(k))
			}
			m, err := markedNumbers(e, mark)
			if err != nil {
				return nil, err
			}
			out[k] = m
		}
		return out, nil
	case []any:
		for i, e := range t {
			m, err := markedNumbers(e, mark)
			if err != nil {
				return nil, err
			}
			t[i] = m
		}
	}
	return v, nil
}

// keyNotAsWritten refuses a mapping key YAML reads as a number, a boolean
// or null whose text, as JSON gets it, is not what was written: 1.10 and
// 1.1 are both the key "1.1" (one value dropped in silence), 0x10 is "16",
// ~ is "<nil>".
func keyNotAsWritten(k *yaml.Node, path []string) *FieldProblem {
	if k.Kind != yaml.ScalarNode {
		return nil // a mapping or a list as a key: jsonable's text, refused by the shape check
	}
	switch k.ShortTag() {
	case "!!str", "!!merge":
		return nil
	}
	var v any
	if k.Decode(&v) != nil {
		return nil // the document's decoding reported it
	}
	if text := fmt.Sprint(v); text != k.Value {
		return &FieldProblem{Path: strings.Join(path, ""), Rule: fmt.Sprintf(
			"the key %s is read by YAML as %s and would be sent as %q: quote it to keep it as written", k.Value, strings.TrimPrefix(k.ShortTag(), "!!"), text)}
	}
	return nil
}

// fieldError is a problem found while reading the file, at a field.
type fieldError struct{ FieldProblem }

func (e fieldError) Error() string { return e.String() }

// inexactNumber finds a YAML number whose text is not a JSON number as
// written (0123, which YAML reads as octal 83; 0x1F, +5, .5, 1_000, .inf):
// it would go out as another text than the one written, so it is refused,
// naming its field (numbersAsMarkedText keeps every other number's text,
// 19.90 and 12345678901234567890 included). And a mapping key YAML reads as
// something whose text changes (keyNotAsWritten). Aliases are not
// followed: the anchored node is checked where it is defined.
func inexactNumber(n *yaml.Node, path []string) *FieldProblem {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := inexactNumber(c, path); p != nil {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			seg := k.Value
			if len(path) > 0 {
				seg = "." + seg
			}
			if p := keyNotAsWritten(k, append(path, seg)); p != nil {
				return p
			}
			if p := inexactNumber(n.Content[i+1], append(path, seg)); p != nil {
				return p
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if p := inexactNumber(c, append(path, "["+strconv.Itoa(i)+"]")); p != nil {
				return p
			}
		}
	case yaml.ScalarNode:
		if t := n.ShortTag(); t != "!!int" && t != "!!float" {
			return nil
		}
		if !jsonNumber.MatchString(n.Value) {
			read := "a number"
			var v any
			if n.Decode(&v) == nil {
				read = fmt.Sprint(v)
			}
			return &FieldProblem{Path: strings.Join(path, ""), Rule: fmt.Sprintf(
				"the number %s is read by YAML as %s: write it as a JSON number (such as 123, 19.90 or 1e3), or quote it to send it as text",
				n.Value, read)}
		}
	}
	return nil
}

// jsonNumber is a JSON number's text (RFC 8259).
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// emptyDocument reports whether a YAML document holds nothing but perhaps
// comments (an explicit null, "~", is something: a second document).
func emptyDocument(n *yaml.Node) bool {
	if n.Kind == 0 {
		return true
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return true
		}
		if len(n.Content) == 1 {
			c := n.Content[0]
			return c.Kind == yaml.ScalarNode && c.Tag == "!!null" && c.Value == "" && c.Style == 0
		}
	}
	return false
}

// DuplicateKey finds the first object key given twice in a well-formed JSON
// document, as a path ("push.audience"). encoding/json lets the last one
// win in silence: a body whose "tags" is given as ["vip"] and then as []
// would clear the tags its writer meant to set.
func DuplicateKey(data []byte) (string, bool) { return duplicateKey(data) }

// duplicateKey is DuplicateKey.
func duplicateKey(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	path, dup, _ := duplicateIn(dec, &fieldPath{})
	return path, dup
}

// duplicateIn reads one JSON value from dec, the one at p, and reports its
// first key given twice in one object, with its path.
func duplicateIn(dec *json.Decoder, p *fieldPath) (string, bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", false, err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return "", false, err
			}
			k, _ := kt.(string)
			if seen[k] {
				p.key(k)
				return p.String(), true, nil
			}
			seen[k] = true
			p.key(k)
			at, dup, err := duplicateIn(dec, p)
			p.up()
			if dup || err != nil {
				return at, dup, err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			p.index(i)
			at, dup, err := duplicateIn(dec, p)
			p.up()
			if dup || err != nil {
				return at, dup, err
			}
		}
	default:
		return "", false, nil
	}
	_, err = dec.Token() // the closing delimiter
	return "", false, err
}

// timestampsAsText retags every timestamp scalar under n as a string.
func timestampsAsText(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!timestamp" {
		n.Tag = "!!str"
	}
	for _, c := range n.Content {
		timestampsAsText(c)
	}
}

// normalize turns a YAML-decoded value into the JSON data model
// (map[string]any, []any, string, bool, json.Number, nil).
func normalize(v any) (any, error) {
	fix, err := jsonable(v)
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(fix)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var out any
	err = dec.Decode(&out)
	return out, err
}

// jsonable converts YAML-only shapes (non-string keys, timestamps) to JSON ones.
func jsonable(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			out[k] = j
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			key := fmt.Sprint(k)
			if _, dup := out[key]; dup {
				// 1 and "1": two keys to YAML, one to JSON.
				return nil, fmt.Errorf("the key %q is given twice (once as text, once as a number or boolean): quote both alike", key)
			}
			out[key] = j
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			out[i] = j
		}
		return out, nil
	case time.Time:
		return t.Format(time.RFC3339Nano), nil
	default:
		return v, nil
	}
}

const typeRulePrefix = "must be "

func hasTypeProblem(verr *ValidationError) bool {
	for _, p := range verr.Problems {
		if strings.HasPrefix(p.Rule, typeRulePrefix) {
			return true
		}
	}
	return false
}

// checkShape walks a JSON value against the Go type it will decode into and
// records unknown keys (exact json names only) and wrong types, all at once.
func checkShape(verr *ValidationError, path string, v any, t reflect.Type) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return
	}
	switch t.Kind() {
	case reflect.Interface:
		return
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			verr.add(path, "%sa mapping, got %s", typeRulePrefix, jsonKind(v))
			return
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = t.Field(i).Type
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				hint := ""
				for name := range fields {
					if strings.EqualFold(name, k) {
						hint = fmt.Sprintf(" (did you mean %s?)", name)
					}
				}
				verr.add(join(k), "unknown key%s", hint)
				continue
			}
			checkShape(verr, join(k), m[k], ft)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			verr.add(path, "%sa mapping, got %s", typeRulePrefix, jsonKind(v))
			return
		}
		for k, e := range m {
			checkShape(verr, join(k), e, t.Elem())
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			verr.add(path, "%sa list, got %s", typeRulePrefix, jsonKind(v))
			return
		}
		for i, e := range a {
			checkShape(verr, fmt.Sprintf("%s[%d]", path, i), e, t.Elem())
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			verr.add(path, "%sa string, got %s", typeRulePrefix, jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			verr.add(path, "%strue or false, got %s", typeRulePrefix, jsonKind(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			verr.add(path, "%san integer, got %s", typeRulePrefix, jsonKind(v))
		} else if _, err := n.Int64(); err != nil {
			verr.add(path, "%san integer, got %s", typeRulePrefix, n)
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			verr.add(path, "%sa number, got %s", typeRulePrefix, jsonKind(v))
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	default:
		return fmt.Sprintf("%T", v)
	}
}
