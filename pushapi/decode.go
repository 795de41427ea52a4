package pushapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DecodeRequest decodes a /push.json body strictly, for operators' files and
// the emulator: every unknown field (keys are matched exactly, unlike
// encoding/json; a typo such as "is_to_al" gets a "did you mean" hint) and
// every value of the wrong type is reported at once, each with its JSON path,
// as a *ValidationError (CodeParam). A body that is not exactly one JSON
// document is a *SyntaxError, which also unwraps to a *ValidationError
// (CodeNoPostData for an empty body). It does not run Validate.
//
// audience.is_to_all, which the service requires, may be left out of an
// operator's file: it reads as false, and the client always writes it. The
// emulator, which reads raw bodies as the service would, refuses a body
// without it.
func DecodeRequest(data []byte) (*Request, error) {
	var r Request
	if err := DecodeJSON(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// CheckShape compares a generic decoded JSON value (objects as
// map[string]any, arrays as []any, numbers as json.Number, float64 or Go
// integers) with the shape of a Request and returns every unknown field and
// wrongly typed value, with paths under path: CheckShape(v, "push") reports
// "push.audience.userid". A null anywhere, v itself included, leaves the
// field unset and is not a problem. It does not run Validate.
func CheckShape(v any, path string) []FieldError {
	var p problems
	checkShape(&p, path, v, reflect.TypeFor[Request]())
	return p
}

// DecodeJSON decodes one JSON document into target, a non-nil pointer to a
// struct with JSON tags (Request, SetUserTagsRequest, BatchSetUserTagsRequest
// or a type of the caller's), as strictly as DecodeRequest: shape problems
// come back all at once as a *ValidationError, malformed input as a
// *SyntaxError. target is left untouched unless the document is well formed
// and of the right shape. The top-level value must be an object.
func DecodeJSON(data []byte, target any) error {
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("pushapi: DecodeJSON needs a non-nil pointer, got %T", target)
	}
	doc, err := parseJSON(data)
	if err != nil {
		return err
	}
	var p problems
	if doc == nil {
		p.add("", CodeParam, "must be an object, got null")
		return p.err()
	}
	checkShape(&p, "", doc, rv.Type().Elem())
	if len(p) > 0 {
		return p.err()
	}
	// Decode from the generic value rather than from data: duplicate keys
	// then resolve as the shape check saw them (the last one wins), and every
	// key is an exact field name, so encoding/json's case-insensitive
	// matching cannot pick a field the check did not.
	canonical, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("pushapi: re-encode body: %w", err)
	}
	if err := json.Unmarshal(canonical, target); err != nil {
		return unmarshalProblem(err)
	}
	return nil
}

// SyntaxError is a body that is not exactly one well-formed JSON document:
// invalid JSON, an empty or truncated body, or data after the document. It
// unwraps to a *ValidationError with one problem at path "" (CodeParam, or
// CodeNoPostData for an empty body), so callers that only know
// ValidationError still get a code and a rule.
type SyntaxError struct {
	// Offset is the byte index of the offending byte (len(body) when the
	// body ends too early).
	Offset int64
	// Line and Column locate Offset, both from 1; Column counts characters.
	Line, Column int
	// Msg is the problem without its position, e.g. "invalid JSON: invalid
	// character ',' looking for beginning of object key string" or
	// "unexpected data after the JSON document".
	Msg string
	// Code is the service code: CodeNoPostData for an empty body, else
	// CodeParam.
	Code int
}

// Error returns "line L, column C: Msg".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Unwrap returns the error as a *ValidationError of one problem.
func (e *SyntaxError) Unwrap() error {
	return &ValidationError{Problems: []FieldError{{Path: "", Rule: e.Error(), Code: e.Code}}}
}

func newSyntaxError(data []byte, offset int64, code int, format string, args ...any) *SyntaxError {
	offset = max(0, min(offset, int64(len(data))))
	before := data[:offset]
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return &SyntaxError{
		Offset: offset,
		Line:   bytes.Count(before, []byte("\n")) + 1,
		Column: utf8.RuneCount(before[lineStart:]) + 1,
		Msg:    fmt.Sprintf(format, args...),
		Code:   code,
	}
}

// parseJSON decodes exactly one JSON document into a generic value with
// numbers as json.Number.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			// Offset counts the offending byte; its index is one less.
			return nil, newSyntaxError(data, se.Offset-1, CodeParam, "invalid JSON: %s", se.Error())
		case errors.Is(err, io.EOF) && len(bytes.Trim(data, " \t\r\n")) == 0:
			return nil, newSyntaxError(data, int64(len(data)), CodeNoPostData, "invalid JSON: unexpected end of input (empty body)")
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, newSyntaxError(data, int64(len(data)), CodeParam, "invalid JSON: unexpected end of input")
		default:
			return nil, newSyntaxError(data, dec.InputOffset(), CodeParam, "invalid JSON: %s", err.Error())
		}
	}
	end := dec.InputOffset()
	if rest := bytes.TrimLeft(data[end:], " \t\r\n"); len(rest) > 0 {
		return nil, newSyntaxError(data, int64(len(data)-len(rest)), CodeParam, "unexpected data after the JSON document")
	}
	return doc, nil
}

// unmarshalProblem turns an encoding/json error that the shape check did not
// foresee into a *ValidationError.
func unmarshalProblem(err error) error {
	var typeErr *json.UnmarshalTypeError
	fe := FieldError{Code: CodeParam, Rule: err.Error()}
	if errors.As(err, &typeErr) {
		fe.Path = typeErr.Field
		fe.Rule = fmt.Sprintf("cannot hold JSON %s as %s", typeErr.Value, typeErr.Type)
	}
	return &ValidationError{Problems: []FieldError{fe}}
}

// checkShape compares a generic JSON value with the Go type that will
// receive it: unknown fields of structs (exact, case-sensitive names),
// values of the wrong kind, and numbers that do not fit. Known fields are
// checked in declaration order, then a struct's unknown fields in key order,
// so the output is deterministic.
func checkShape(p *problems, path string, v any, t reflect.Type) {
	if v == nil {
		return // null leaves the field unset
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			p.add(path, CodeParam, "must be an object, got %s", jsonKind(v))
			return
		}
		fields := jsonFields(t)
		names := make([]string, len(fields))
		byName := make(map[string]reflect.Type, len(fields))
		for i, f := range fields {
			names[i] = f.name
			byName[f.name] = f.typ
		}
		for _, f := range fields {
			if val, ok := obj[f.name]; ok {
				checkShape(p, joinPath(path, f.name), val, f.typ)
			}
		}
		var unknown []string
		for k := range obj {
			if _, ok := byName[k]; !ok {
				unknown = append(unknown, k)
			}
		}
		slices.Sort(unknown)
		for _, k := range unknown {
			if near := nearest(k, names); near != "" {
				p.add(joinPath(path, k), CodeParam, "unknown field (did you mean %q?)", near)
			} else {
				p.add(joinPath(path, k), CodeParam, "unknown field; known fields: %s", strings.Join(names, ", "))
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			p.add(path, CodeParam, "must be an object, got %s", jsonKind(v))
			return
		}
		if t.Key().Kind() != reflect.String {
			return
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			checkShape(p, joinPath(path, k), obj[k], t.Elem())
		}
	case reflect.Slice, reflect.Array:
		list, ok := v.([]any)
		if !ok {
			p.add(path, CodeParam, "must be a list, got %s", jsonKind(v))
			return
		}
		if t.Kind() == reflect.Array && len(list) > t.Len() {
			p.add(path, CodeParam, "at most %d items, got %d", t.Len(), len(list))
		}
		for i, item := range list {
			checkShape(p, fmt.Sprintf("%s[%d]", path, i), item, t.Elem())
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			p.add(path, CodeParam, "must be a string, got %s", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			p.add(path, CodeParam, "must be true or false, got %s", jsonKind(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		text, ok := numberText(v)
		if !ok {
			p.add(path, CodeParam, "must be an integer, got %s", jsonKind(v))
			return
		}
		n, err := strconv.ParseInt(text, 10, 64)
		switch {
		case err != nil && errors.Is(err, strconv.ErrRange), err == nil && reflect.New(t).Elem().OverflowInt(n):
			p.add(path, CodeParam, "integer %s is out of range", text)
		case err != nil:
			p.add(path, CodeParam, "must be an integer, got %s", text)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		text, ok := numberText(v)
		if !ok {
			p.add(path, CodeParam, "must be a non-negative integer, got %s", jsonKind(v))
			return
		}
		n, err := strconv.ParseUint(text, 10, 64)
		switch {
		case err != nil && errors.Is(err, strconv.ErrRange), err == nil && reflect.New(t).Elem().OverflowUint(n):
			p.add(path, CodeParam, "integer %s is out of range", text)
		case err != nil:
			p.add(path, CodeParam, "must be a non-negative integer, got %s", text)
		}
	case reflect.Float32, reflect.Float64:
		text, ok := numberText(v)
		if !ok {
			p.add(path, CodeParam, "must be a number, got %s", jsonKind(v))
			return
		}
		if _, err := strconv.ParseFloat(text, t.Bits()); err != nil {
			p.add(path, CodeParam, "number %s is out of range", text)
		}
	case reflect.Interface:
		checkAnyValue(p, path, v)
	}
}

// checkAnyValue checks a value destined for an interface (extras): any JSON
// goes, but encoding/json stores numbers as float64, so a number beyond its
// range cannot be held.
func checkAnyValue(p *problems, path string, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			checkAnyValue(p, joinPath(path, k), x[k])
		}
	case []any:
		for i, item := range x {
			checkAnyValue(p, fmt.Sprintf("%s[%d]", path, i), item)
		}
	case json.Number:
		if _, err := strconv.ParseFloat(x.String(), 64); err != nil {
			p.add(path, CodeParam, "number %s is out of range", x)
		}
	}
}

// mapKeyName is the object key encoding/json writes for map key k: a
// string as it is, an integer in decimal, a TextMarshaler's text.
func mapKeyName(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return k.String()
	}
	if tm, ok := k.Interface().(encoding.TextMarshaler); ok {
		if b, err := tm.MarshalText(); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(k.Interface())
}

// checkRawJSON checks JSON a caller wrote itself (a json.RawMessage) as
// checkUTF8 checks the rest, depth levels down: decoded as the service
// would decode it, so what it holds meets the same rules.
func checkRawJSON(p *problems, path string, raw []byte, depth int) {
	if len(raw) == 0 {
		return // encoding/json writes an empty RawMessage as null
	}
	// Checked as written: the decoder reads invalid UTF-8, and an escape
	// of half a surrogate pair, as U+FFFD, and the raw bytes are what is
	// sent.
	if !utf8.Valid(raw) {
		p.add(path, CodeParam, "must be valid UTF-8 JSON")
		return
	}
	if at, lone := LoneSurrogate(raw); lone {
		switch {
		case at == "":
		case strings.HasPrefix(at, "["):
			path += at
		default:
			path = joinPath(path, at)
		}
		p.add(path, CodeParam, LoneSurrogateRule)
		return
	}
	doc, err := parseJSON(raw)
	if err != nil {
		p.add(path, CodeParam, "not valid JSON: %v", err)
		return
	}
	checkText(p, path, reflect.ValueOf(&doc).Elem(), depth)
}

// jsonNumberType is the type of extras' numbers (kept as their text).
var jsonNumberType = reflect.TypeFor[json.Number]()

// checkUTF8 reports every string in v, walked by JSON field names under
// path, that is not valid UTF-8 or holds a NUL (U+0000), map keys included,
// and every json.Number (extras) beyond a double's range.
// encoding/json replaces invalid bytes with U+FFFD, so such a request would
// reach the service as a different text than the one validated; a NUL
// cannot be stored (PostgreSQL). Bodies from DecodeJSON are always valid
// UTF-8; requests built in Go (templated from campaign vars) may not be.
// A json.RawMessage is checked as the JSON it holds, the values of a map
// keyed by numbers as those of any other, and nesting deeper than
// maxJSONDepth is refused: a body the emulator (or a service decoding
// with encoding/json) would refuse is refused before it is sent.
func checkUTF8(p *problems, path string, v reflect.Value) {
	checkText(p, path, v, 0)
}

// maxJSONDepth is how deep encoding/json's decoder lets a document nest
// (objects and arrays); it calls a deeper one invalid JSON.
const maxJSONDepth = 10000

// rawMessageType is json.RawMessage, JSON written by the caller.
var rawMessageType = reflect.TypeFor[json.RawMessage]()

// checkText is checkUTF8 for a value depth objects and arrays deep.
func checkText(p *problems, path string, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array:
		if v.Type() == rawMessageType {
			checkRawJSON(p, path, v.Bytes(), depth)
			return
		}
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return // []byte: encoding/json writes a base64 string
		}
		if depth >= maxJSONDepth {
			p.add(path, CodeParam, "nested deeper than %d objects and arrays", maxJSONDepth)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			checkText(p, path, v.Elem(), depth)
		}
	case reflect.Struct:
		for _, f := range jsonFields(v.Type()) {
			if fv, err := v.FieldByIndexErr(f.index); err == nil {
				checkText(p, joinPath(path, f.name), fv, depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			checkText(p, fmt.Sprintf("%s[%d]", path, i), v.Index(i), depth+1)
		}
	case reflect.Map:
		type entry struct {
			name string
			key  reflect.Value
		}
		entries := make([]entry, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			entries = append(entries, entry{mapKeyName(it.Key()), it.Key()})
		}
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
		for _, e := range entries {
			if !utf8.ValidString(e.name) || strings.ContainsRune(e.name, 0) {
				p.add(path, CodeParam, "key %q must be valid UTF-8 text without NUL (U+0000)", e.name)
				continue
			}
			checkText(p, joinPath(path, e.name), v.MapIndex(e.key), depth+1)
		}
	case reflect.Float32, reflect.Float64:
		// An extras number set from Go: JSON has no NaN nor infinity.
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			p.add(path, CodeParam, "number %v cannot be written as JSON", f)
		}
	case reflect.String:
		switch s := v.String(); {
		case v.Type() == jsonNumberType:
			// An extras number kept as its text: the emulator (and any
			// service decoding JSON numbers as doubles) refuses one beyond
			// a double's range, so the client refuses it before sending.
			// ParseFloat also takes texts JSON has no number for ("NaN",
			// "+1", "Infinity", "0x1p3"): json.Marshal would fail on them.
			if !isJSONNumber(s) {
				p.add(path, CodeParam, "%q is not a JSON number", s)
			} else if _, err := strconv.ParseFloat(s, 64); err != nil {
				p.add(path, CodeParam, "number %s is out of range", s)
			}
		case !utf8.ValidString(s):
			p.add(path, CodeParam, "must be valid UTF-8 text, got %q", truncate(s, 20))
		case strings.ContainsRune(s, 0):
			// Text has no use for it, and PostgreSQL can store no NUL in
			// text or jsonb: refused at creation, not at fire time.
			p.add(path, CodeParam, "must not contain a NUL character (U+0000)")
		}
	}
}

// isJSONNumber reports whether s is a number as JSON writes one (RFC 8259
// section 6): an optional minus, an integer part without leading zeros, an
// optional fraction and an optional exponent.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// jsonField is one JSON-visible field of a struct.
type jsonField struct {
	name  string
	typ   reflect.Type
	index []int // for reflect.Value.FieldByIndexErr
}

// jsonFields lists the fields encoding/json would use for struct type t, in
// declaration order, with the fields of untagged embedded structs promoted.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && tag == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			for _, inner := range jsonFields(ft) {
				inner.index = append([]int{i}, inner.index...)
				out = append(out, inner)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type, index: []int{i}})
	}
	return out
}

// numberText is the literal of a number in any form a generic decode
// produces (json.Number, float64, Go integers).
func numberText(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return n.String(), true
	case float64:
		return strconv.FormatFloat(n, 'g', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(n), 'g', -1, 32), true
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(n), true
	}
	return "", false
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonKind describes a generic JSON value for a rule: "a string (\"x\")",
// "a number (1.5)", "a list".
func jsonKind(v any) string {
	if text, ok := numberText(v); ok {
		return "a number (" + text + ")"
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("a string (%q)", truncate(x, 20))
	case bool:
		return fmt.Sprintf("a boolean (%t)", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// truncate shortens s to n characters, marking the cut with "…".
func truncate(s string, n int) string {
	i, count := 0, 0
	for i < len(s) && count < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	if i >= len(s) {
		return s
	}
	return s[:i] + "…"
}

// nearest is the candidate closest to key when it is a likely typo of it
// (same letters ignoring case, or at most 2 edits away and no more than half
// the key's length), else "".
func nearest(key string, candidates []string) string {
	best, bestDist := "", 3
	lower := strings.ToLower(key)
	for _, c := range candidates {
		if strings.EqualFold(c, key) {
			return c
		}
		lc := strings.ToLower(c)
		if abs(len(lower)-len(lc)) >= bestDist {
			continue // the distance is at least the length difference
		}
		// Half the key's letters changed is a different word, not a typo.
		if d := editDistance(lower, lc); d < bestDist && 2*d <= len(lower) {
			best, bestDist = c, d
		}
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// editDistance is the Levenshtein distance between a and b (in bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
