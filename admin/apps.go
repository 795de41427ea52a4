package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
)

// quotaAll is GET /v1/quota: every configured app.
func (s *Server) quotaAll(w http.ResponseWriter, r *http.Request) {
	if s.refuseQuery(w, r) {
		return
	}
	if s.opts.Quota == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, errorf("quota status is not available on this server"))
		return
	}
	rep := QuotaReport{At: s.now(), Apps: make([]quota.Status, 0, len(s.opts.Apps))}
	for _, app := range s.opts.Apps {
		st, err := s.opts.Quota.Status(r.Context(), app)
		if err != nil {
			s.quotaUnavailable(w, r, app, err)
			return
		}
		rep.Apps = append(rep.Apps, st)
	}
	s.writeJSON(w, r, http.StatusOK, rep)
}

// quotaApp is GET /v1/quota/{app}.
func (s *Server) quotaApp(w http.ResponseWriter, r *http.Request) {
	app, ok := s.quotaRequest(w, r, s.opts.Quota != nil, "quota status")
	if !ok {
		return
	}
	st, err := s.opts.Quota.Status(r.Context(), app)
	if err != nil {
		s.quotaUnavailable(w, r, app, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, st)
}

// quotaRequest checks a request for one app's quota: available is false
// (503, naming what) when this server has no such quota service; an app it
// does not serve is 404, a query parameter 400.
func (s *Server) quotaRequest(w http.ResponseWriter, r *http.Request, available bool, what string) (string, bool) {
	if !available {
		s.writeError(w, r, http.StatusServiceUnavailable, errorf("%s is not available on this server", what))
		return "", false
	}
	app := r.PathValue("app")
	if !slices.Contains(s.opts.Apps, app) {
		s.fail(w, r, s.unknownApp(app))
		return "", false
	}
	if s.refuseQuery(w, r) {
		return "", false
	}
	return app, true
}

// quotaUnblock lifts an app's block and answers the block it lifted and the
// app's quota status after.
func (s *Server) quotaUnblock(w http.ResponseWriter, r *http.Request) {
	u, can := s.opts.Quota.(QuotaUnblocker)
	app, ok := s.quotaRequest(w, r, can, "lifting a quota block")
	if !ok {
		return
	}
	lifted, err := u.Unblock(r.Context(), app)
	if err != nil {
		s.quotaUnavailable(w, r, app, err)
		return
	}
	st, err := s.opts.Quota.Status(r.Context(), app)
	if err != nil {
		s.quotaUnavailable(w, r, app, err)
		return
	}
	was := !lifted.IsZero()
	s.writeJSON(w, r, http.StatusOK, QuotaUnblock{Status: st, Lifted: &was, LiftedBlockUntil: lifted})
}

// quotaUnavailable answers a failed quota read: an unknown app is 404; any
// other failure is a dependency out of reach (Redis, the store), 503 as
// api/openapi.yaml documents, with the cause in the log only.
func (s *Server) quotaUnavailable(w http.ResponseWriter, r *http.Request, app string, err error) {
	if errors.Is(err, quota.ErrUnknownApp) || (errors.Is(err, context.Canceled) && r.Context().Err() != nil) {
		s.fail(w, r, fmt.Errorf("app %s: quota status: %w", app, err))
		return
	}
	s.log.Error().Str("request_id", requestID(r)).Str("app", app).Err(err).Msg("admin: quota status unavailable")
	s.writeError(w, r, http.StatusServiceUnavailable, errorf("app %s: quota status unavailable: Redis or the store cannot be reached (request id %s; see the server log)", app, requestID(r)))
}

func (s *Server) unknownApp(app string) *apiError {
	return &apiError{status: http.StatusNotFound, body: errorf("app %q is not configured (configured: %s)", app, strings.Join(s.opts.Apps, ", "))}
}

// tagService returns the tag API of the {app} path parameter.
func (s *Server) tagService(r *http.Request) (string, TagService, error) {
	app := r.PathValue("app")
	svc, ok := s.opts.Tags[app]
	if !ok || svc == nil {
		return app, nil, s.unknownApp(app)
	}
	return app, svc, nil
}

// decodeJSON decodes a JSON body strictly (unknown keys are problems).
func decodeJSON(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return invalid("empty body", Problem{Rule: "a JSON body is required"})
	}
	// encoding/json would replace invalid bytes with U+FFFD and let the
	// last of two equal keys win: the service would get other tags than
	// those sent. Campaign files are refused for both as well.
	if !utf8.Valid(data) {
		return invalid("invalid body", Problem{Rule: "must be UTF-8 text"})
	}
	if p, ok := bodyProblem(data); ok {
		return invalid("invalid body", p)
	}
	if path, ok := pushapi.LoneSurrogate(data); ok {
		return invalid("invalid body", Problem{Path: path, Rule: pushapi.LoneSurrogateRule})
	}
	if problems := shapeProblems(data, v); len(problems) > 0 {
		return invalid("invalid body", problems...)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var (
			te *json.UnmarshalTypeError
			se *json.SyntaxError
		)
		switch {
		case errors.As(err, &te):
			return invalid("invalid body", Problem{Path: te.Field, Rule: fmt.Sprintf("must be %s, got %s", te.Type, te.Value)})
		case errors.As(err, &se):
			return invalid("invalid body", Problem{Rule: fmt.Sprintf("not JSON: %v (offset %d)", se, se.Offset)})
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return invalid("invalid body", Problem{Path: name, Rule: "unknown key"})
		default:
			return invalid("invalid body", Problem{Rule: err.Error()})
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("invalid body", Problem{Rule: "a single JSON value is expected"})
	}
	return nil
}

// errTagsRequired refuses a tag update without tags (absent or null): the
// list replaces the user's tags, so a mistyped body would wipe them; [] is
// how to clear them on purpose (as the service itself wants).
var errTagsRequired = invalid("invalid body", Problem{Path: "tags", Rule: "required: the users' whole new tag list ([] clears it)"})

// setUserTags is PUT /v1/apps/{app}/users/{user}/tags {"tags": [...]}.
func (s *Server) setUserTags(w http.ResponseWriter, r *http.Request) {
	app, svc, err := s.tagService(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.refuseQuery(w, r) {
		return
	}
	if _, ok := s.mediaType(w, r, jsonContentTypes); !ok {
		return
	}
	var body TagsSet
	if err := decodeJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.Tags == nil {
		s.fail(w, r, errTagsRequired)
		return
	}
	req := pushapi.SetUserTagsRequest{UserID: r.PathValue("user"), Tags: body.Tags}
	if err := req.Validate(); err != nil {
		var ve *pushapi.ValidationError
		if !errors.As(err, &ve) {
			s.fail(w, r, err)
			return
		}
		var problems []Problem
		var lines []string
		for _, p := range ve.Problems { // the user id is the path parameter "user"
			if p.Path == "userId" {
				p.Path = "user"
			}
			problems = append(problems, Problem{Path: p.Path, Rule: p.Rule})
			lines = append(lines, p.Path+": "+p.Rule)
		}
		s.fail(w, r, invalid(pushapi.ProblemsMessage("request", lines), problems...))
		return
	}
	if err := svc.SetUserTags(r.Context(), req.UserID, req.Tags); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, TagsSetResult{App: app, UserIDs: []string{req.UserID}, Tags: req.Tags})
}

// batchSetTags is POST /v1/apps/{app}/tags/batch {"userIds": [...], "tags": [...]}.
func (s *Server) batchSetTags(w http.ResponseWriter, r *http.Request) {
	app, svc, err := s.tagService(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.refuseQuery(w, r) {
		return
	}
	if _, ok := s.mediaType(w, r, jsonContentTypes); !ok {
		return
	}
	var body TagsBatchSet
	if err := decodeJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.Tags == nil {
		s.fail(w, r, errTagsRequired)
		return
	}
	req := pushapi.BatchSetUserTagsRequest(body)
	if err := req.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := svc.BatchSetUserTags(r.Context(), req.UserIDs, req.Tags); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, TagsSetResult{App: app, UserIDs: req.UserIDs, Tags: req.Tags})
}

// getTags is GET /v1/apps/{app}/tags?user=a&user=b.
func (s *Server) getTags(w http.ResponseWriter, r *http.Request) {
	app, svc, err := s.tagService(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Every problem at once: the query's, then the user ids'.
	problems := unknownQueryKeys(r, "user")
	users := r.URL.Query()["user"]
	if err := pushapi.ValidateGetUserTags(users); err != nil {
		var ve *pushapi.ValidationError
		if !errors.As(err, &ve) {
			s.fail(w, r, err)
			return
		}
		for _, p := range ve.Problems { // the query parameter is "user"
			problems = append(problems, Problem{Path: strings.Replace(p.Path, "userIds", "user", 1), Rule: p.Rule})
		}
	}
	if len(problems) > 0 {
		s.fail(w, r, invalid("invalid query", problems...))
		return
	}
	got, err := svc.GetUserTags(r.Context(), users)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := TagsGetResult{App: app, Users: make(map[string][]string, len(users))}
	for _, u := range users {
		tags := got[u]
		if tags == nil {
			tags = []string{}
		}
		out.Users[u] = tags
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// jsonContentTypes is what the tag bodies may be sent as.
var jsonContentTypes = []string{"application/json"}

// maxBodyDepth bounds how deeply an admin JSON body nests: the tag bodies
// nest two deep (an object of arrays). Without a bound, 1 MiB of "[" would
// cost a frame per level before the decoder refused it.
const maxBodyDepth = 32

// bodyProblem scans the JSON document data for what encoding/json would
// let through silently: a key an object holds twice (the last one would
// win), and nesting deeper than maxBodyDepth. It returns the first such
// problem, with its path; nothing for a body without them (also for
// malformed JSON, which the decoder then refuses). Paths are built only for
// the problem reported, so the scan costs memory in the body's depth, not
// its square.
func bodyProblem(data []byte) (Problem, bool) {
	type frame struct {
		keys   map[string]bool // nil for an array
		seg    string          // how the parent reaches it: ".key" or "[i]" ("" for the root)
		expect bool            // an object's next string token is a key
		index  int             // an array's next element
	}
	var stack []*frame
	path := func(tail string) string {
		var b strings.Builder
		for _, f := range stack {
			b.WriteString(f.seg)
		}
		b.WriteString(tail)
		return strings.TrimPrefix(b.String(), ".")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	next := "" // the segment of the value to come, in an object
	for {
		tok, err := dec.Token()
		if err != nil {
			return Problem{}, false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.expect {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return Problem{Path: path("." + k), Rule: "given more than once"}, true
				}
				top.keys[k] = true
				top.expect = false
				next = "." + k
				continue
			}
		}
		here := next
		if top != nil && top.keys == nil {
			here = "[" + strconv.Itoa(top.index) + "]"
			top.index++
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxBodyDepth {
				return Problem{Path: path(here), Rule: fmt.Sprintf("nested more than %d deep", maxBodyDepth)}, true
			}
			f := &frame{seg: here}
			if tok == json.Delim('{') {
				f.keys, f.expect = map[string]bool{}, true
			}
			stack = append(stack, f)
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if top != nil && top.keys == nil {
				top.index-- // the closing bracket is no element
			}
		}
		if len(stack) > 0 && stack[len(stack)-1].keys != nil {
			stack[len(stack)-1].expect = true
		}
	}
}

// shapeProblems lists every key of a JSON object body, for v a pointer to
// a struct of string and []string fields, that is unknown or of the wrong
// JSON type, each with its path (an array's element by its index), and
// refuses a body that is not an object. encoding/json stops at the first
// wrong type and names it by its Go type ("must be admin.TagsBatchSet,
// got array"), without the element's index. null stands for an absent key
// (the handlers say which are required); an element must be a string. A
// key must be exactly a field's JSON name: encoding/json matches keys
// regardless of case, so "TAGS" would be read as tags, and a key given
// twice under two spellings would slip past bodyProblem, the last winning.
func shapeProblems(data []byte, v any) []Problem {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field == "" {
			return []Problem{{Rule: "must be a JSON object, got " + te.Value}}
		}
		return nil // not JSON: the decoder says where
	}
	fields := map[string]reflect.Type{}
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case name == "":
			fields[f.Name] = f.Type
		default:
			fields[name] = f.Type
		}
	}
	var problems []Problem
	for _, k := range slices.Sorted(maps.Keys(top)) {
		ft, ok := fields[k]
		if !ok {
			problems = append(problems, Problem{Path: k, Rule: "unknown key"})
			continue
		}
		if kind := jsonKind(top[k]); kind != "null" {
			problems = append(problems, typeProblems(k, top[k], kind, ft)...)
		}
	}
	return problems
}

// typeProblems checks raw, of JSON kind kind, against a string or []string
// field's type (other types are left to encoding/json).
func typeProblems(path string, raw json.RawMessage, kind string, t reflect.Type) []Problem {
	switch t.Kind() {
	case reflect.String:
		if kind != "string" {
			return []Problem{{Path: path, Rule: "must be a string, got " + kind}}
		}
	case reflect.Slice:
		if kind != "array" {
			return []Problem{{Path: path, Rule: "must be an array, got " + kind}}
		}
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			return nil
		}
		var out []Problem
		for i, e := range elems {
			out = append(out, typeProblems(path+"["+strconv.Itoa(i)+"]", e, jsonKind(e), t.Elem())...)
		}
		return out
	}
	return nil
}

// jsonKind names the kind of a JSON value, by its first byte.
func jsonKind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "string"
	case '[':
		return "array"
	case '{':
		return "object"
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	}
	return "number"
}
