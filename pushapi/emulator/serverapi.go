package emulator

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/tagcast/tagcast/pushapi"
)

const (
	maxBodyBytes     = pushapi.MaxBodyBytes
	maxRequestIDLen  = 36
	millisThreshold  = 1_000_000_000_000 // timestamps at or above are milliseconds
	requestIDHeader  = "X-Request-ID"
	contentTypeJSON  = "application/json; charset=utf-8"
	mediaJSON        = "application/json"                  // /push.json and the tag set endpoints
	mediaForm        = "application/x-www-form-urlencoded" // /user/tags/get.json
	codeMethodDenied = http.StatusMethodNotAllowed
)

// answer is what a Server API call gets: a status and a JSON body.
type answer struct {
	status int
	code   int
	msg    string         // errorMessage when code != 200
	extra  map[string]any // more fields of a 200 body
}

func fail(status, code int, format string, a ...any) answer {
	return answer{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

func ok(extra map[string]any) answer {
	return answer{status: http.StatusOK, code: pushapi.CodeOK, extra: extra}
}

// call is one authenticated Server API call being processed.
type call struct {
	r         *http.Request
	endpoint  string
	appKey    string
	st        *app
	body      []byte
	requestID string
	stallSent bool // a stall_sent fault: process, then drop the answer
}

func (e *Emulator) routeServerAPI() {
	e.mux.HandleFunc(pushapi.PathPush, e.serverAPI(pushapi.PathPush, mediaJSON, e.processPush))
	e.mux.HandleFunc(pushapi.PathSetUserTags, e.serverAPI(pushapi.PathSetUserTags, mediaJSON, e.processTagSet))
	e.mux.HandleFunc(pushapi.PathBatchSetTags, e.serverAPI(pushapi.PathBatchSetTags, mediaJSON, e.processTagBatchSet))
	e.mux.HandleFunc(pushapi.PathGetUserTags, e.serverAPI(pushapi.PathGetUserTags, mediaForm, e.processTagsGet))
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": http.StatusNotFound, "errorMessage": "no such endpoint: " + r.URL.Path})
	})
}

// header reads a signing header, with or without the RC- prefix.
func header(r *http.Request, name string) string {
	if v := r.Header.Get(name); v != "" {
		return v
	}
	return r.Header.Get("RC-" + name)
}

// serverAPI wraps one endpoint's processing with the steps every Server API
// call goes through (see the package doc for the order). media is the
// Content-Type the endpoint reads its body as.
func (e *Emulator) serverAPI(endpoint, media string, process func(*call) answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := &call{r: r, endpoint: endpoint, appKey: header(r, "App-Key"), requestID: r.Header.Get(requestIDHeader)}
		e.mu.Lock()
		c.st = e.apps[c.appKey]
		if c.requestID == "" {
			e.reqSeq++ // not from e.rng: fault draws must not depend on clients' headers
			c.requestID = fmt.Sprintf("emu-%016x", mix64(e.reqSeq^e.uidKey))
		}
		e.mu.Unlock()
		w.Header().Set(requestIDHeader, c.requestID)

		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			e.respond(w, c, fail(http.StatusMethodNotAllowed, codeMethodDenied, "method %s not allowed: use POST", r.Method))
			return
		}
		if a, bad := e.authenticate(c); bad {
			e.respond(w, c, a)
			return
		}
		if len(c.requestID) > maxRequestIDLen {
			e.respond(w, c, fail(http.StatusBadRequest, pushapi.CodeParam, "%s: at most %d characters, got %d", requestIDHeader, maxRequestIDLen, len(c.requestID)))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				e.respond(w, c, fail(http.StatusBadRequest, pushapi.CodeTooLong, "body: at most %d bytes", maxBodyBytes))
				return
			}
			e.log.Debug().Err(err).Str("path", endpoint).Msg("emulator: reading body")
			return // the client went away
		}
		c.body = body
		if len(bytes.TrimSpace(body)) == 0 {
			e.respond(w, c, fail(http.StatusBadRequest, pushapi.CodeNoPostData, "no POST data"))
			return
		}
		if a, bad := checkContentType(r.Header.Get("Content-Type"), media); bad {
			e.respond(w, c, a)
			return
		}
		if done := e.injectFaults(w, c); done {
			return
		}
		a := process(c)
		if c.stallSent {
			if a.status != http.StatusOK {
				// The stall drops the answer, not the decision: a refusal
				// (a 429 above all) is counted as one, so a test reading
				// the counters sees the call the service refused.
				e.countAnswer(c, a)
			}
			e.stallAndDrop(w, c, false)
			return
		}
		e.respond(w, c, a)
	}
}

// checkContentType reports a 400/1002 answer when a body's Content-Type is
// not media: the service reads a body by its declared type (JSON for
// /push.json and the tag set endpoints, a form for /user/tags/get.json), so
// a body sent under another type is not what the caller meant. Parameters
// (such as "; charset=utf-8") are allowed; the media type is matched without
// regard to case, as RFC 9110 says.
func checkContentType(header, media string) (answer, bool) {
	if header == "" {
		return fail(http.StatusBadRequest, pushapi.CodeParam, "Content-Type: missing header, want %s", media), true
	}
	got, _, err := mime.ParseMediaType(header)
	if err != nil {
		return fail(http.StatusBadRequest, pushapi.CodeParam, "Content-Type: %q is not a valid media type (%v), want %s", header, err, media), true
	}
	if got != media {
		return fail(http.StatusBadRequest, pushapi.CodeParam, "Content-Type: got %s, want %s", got, media), true
	}
	return answer{}, false
}

// authenticate checks App-Key, Nonce, Timestamp and Signature. It returns
// the 401 answer and true when the call is rejected.
func (e *Emulator) authenticate(c *call) (answer, bool) {
	if c.appKey == "" {
		return fail(http.StatusUnauthorized, pushapi.CodeAppKeyMismatch, "App-Key: missing header"), true
	}
	if c.st == nil {
		return fail(http.StatusUnauthorized, pushapi.CodeAppKeyMismatch, "App-Key: unknown app key %q", c.appKey), true
	}
	nonce, ts, sig := header(c.r, "Nonce"), header(c.r, "Timestamp"), header(c.r, "Signature")
	for _, h := range []struct{ name, v string }{{"Nonce", nonce}, {"Timestamp", ts}, {"Signature", sig}} {
		if h.v == "" {
			return fail(http.StatusUnauthorized, pushapi.CodeSignature, "%s: missing header", h.name), true
		}
	}
	if len(nonce) > e.maxNonce { // set once by New: no lock needed
		return fail(http.StatusUnauthorized, pushapi.CodeSignature, "Nonce: at most %d characters, got %d", e.maxNonce, len(nonce)), true
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n <= 0 {
		return fail(http.StatusUnauthorized, pushapi.CodeSignature, "Timestamp: want Unix seconds or milliseconds, got %q", ts), true
	}
	at := time.Unix(n, 0)
	if n >= millisThreshold {
		at = time.UnixMilli(n)
	}
	e.mu.Lock()
	now, fresh, secret := e.clock.now(), e.freshness, c.st.cfg.Secret
	locked, restricted := c.st.cfg.Locked, c.st.cfg.Restricted
	e.mu.Unlock()
	if skew := now.Sub(at).Abs(); fresh > 0 && skew > fresh {
		return fail(http.StatusUnauthorized, pushapi.CodeSignature, "Timestamp: %s is %s away from the service's clock (%s), more than the freshness window of %s",
			at.UTC().Format(time.RFC3339), skew.Round(time.Second), now.UTC().Format(time.RFC3339), fresh), true
	}
	// The Signature is lowercase hex (push-api-facts.md): compared exactly,
	// so an uppercase or mixed-case digest is refused like any other mismatch.
	want := pushapi.Sign(secret, nonce, ts)
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return fail(http.StatusUnauthorized, pushapi.CodeSignature, "Signature: does not match SHA1(AppSecret + Nonce + Timestamp)"), true
	}
	// Only a caller who proved the key learns the app's state.
	switch {
	case locked:
		return fail(http.StatusUnauthorized, pushapi.CodeAppLocked, "app %s is locked or deleted", c.appKey), true
	case restricted:
		return fail(http.StatusUnauthorized, pushapi.CodeRestricted, "method restricted / IP restriction for app %s", c.appKey), true
	}
	return answer{}, false
}

// respond writes a and counts it.
func (e *Emulator) respond(w http.ResponseWriter, c *call, a answer) {
	e.countAnswer(c, a)
	body := map[string]any{"code": a.code}
	if a.status == http.StatusOK {
		for k, v := range a.extra {
			body[k] = v
		}
	} else {
		body["errorMessage"] = a.msg
	}
	e.log.Debug().Str("path", c.endpoint).Str("app_key", c.appKey).Str("request_id", c.requestID).
		Int("status", a.status).Int("code", a.code).Str("error", a.msg).Msg("emulator: answered")
	writeJSON(w, a.status, body)
}

// countAnswer counts a in the call's app's counters.
func (e *Emulator) countAnswer(c *call, a answer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ctr := &e.unknown
	if c.st != nil {
		ctr = &c.st.counters
	}
	switch a.status {
	case http.StatusOK:
		if c.endpoint == pushapi.PathPush {
			ctr.Accepted++
		} else {
			ctr.TagCalls++
		}
	case http.StatusBadRequest:
		ctr.BadRequest++
	case http.StatusUnauthorized:
		ctr.Unauthorized++
	case http.StatusTooManyRequests:
		ctr.RateLimited++
	case 430:
		ctr.NotEnabled++
	case http.StatusMethodNotAllowed:
		ctr.NotAllowed++
	case http.StatusInternalServerError:
		ctr.Fault500++
	case http.StatusGatewayTimeout:
		ctr.Fault504++
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":1000,"errorMessage":"emulator: encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// decodeAnswer turns a JSON decoding error into a 400/1002 naming the field.
func decodeAnswer(err error) answer {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "body"
		}
		return fail(http.StatusBadRequest, pushapi.CodeParam, "%s: want %s, got JSON %s", field, te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fail(http.StatusBadRequest, pushapi.CodeParam, "body: invalid JSON at byte %d: %v", se.Offset, err)
	}
	return fail(http.StatusBadRequest, pushapi.CodeParam, "body: %v", err)
}

// validationAnswer turns pushapi's validation error into a 400 with the first
// problem's code (1002 or 1005) and every problem in the message; a body that
// is not one JSON document gets its position.
func validationAnswer(err error) answer {
	var se *pushapi.SyntaxError
	if errors.As(err, &se) {
		return fail(http.StatusBadRequest, se.Code, "body: %s (line %d, column %d)", se.Msg, se.Line, se.Column)
	}
	var ve *pushapi.ValidationError
	if errors.As(err, &ve) && len(ve.Problems) > 0 {
		code := ve.Code()
		if code != pushapi.CodeTooLong {
			code = pushapi.CodeParam
		}
		return fail(http.StatusBadRequest, code, "%s", ve.Error())
	}
	return fail(http.StatusBadRequest, pushapi.CodeParam, "%v", err)
}

// pushRoom reports whether a /push.json call at now is within the app's
// quota: its accepted pushes', or while the service is not enabled its
// calls'. Callers hold e.mu.
func (st *app) pushRoom(now time.Time) bool {
	if st.cfg.PushDisabled {
		return st.windows.room(&st.notEnabled, now)
	}
	return st.windows.room(&st.accepted, now)
}

// processPush handles an authenticated /push.json call with a body.
func (e *Emulator) processPush(c *call) answer {
	e.mu.Lock()
	if c.st.cfg.PushDisabled {
		now := e.clock.now()
		l := &c.st.notEnabled
		room := c.st.windows.room(l, now)
		if room {
			l.add(now)
			l.prune(now.Add(-keep))
		}
		e.mu.Unlock()
		if room {
			return fail(430, pushapi.CodeNotEnabled, "push service not enabled for this App Key")
		}
		return fail(http.StatusTooManyRequests, pushapi.CodeRateLimited, "rate limit exceeded (calls while the push service is not enabled)")
	}
	e.mu.Unlock()

	// pushapi's strict decoder: an unknown or misspelt field (tagOr for
	// tag_or) is refused, not dropped to push to a wider audience.
	req, err := pushapi.DecodeRequest(c.body)
	if err != nil {
		return validationAnswer(err)
	}
	// The per-field rules only: MaxBodyBytes was applied to the body as
	// received (serverAPI). Validate would apply it to a re-encoding of the
	// decoded request, which is not what the caller sent.
	if err := withIsToAllRequired(c.body, req.ValidateFields()); err != nil {
		return validationAnswer(err)
	}
	notifications := effectiveNotifications(req)

	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.now()
	st := c.st
	if !st.windows.room(&st.accepted, now) {
		qs := st.quotaState(now)
		return fail(http.StatusTooManyRequests, pushapi.CodeRateLimited,
			"rate limit exceeded: %d per hour (%s), %d per day (%s, %s); used %d this hour, %d this day; next opening %s",
			qs.Hourly, qs.HourWindow, qs.Daily, qs.DayWindow, qs.Timezone, qs.UsedHour, qs.UsedDay, qs.NextOpening.UTC().Format(time.RFC3339))
	}
	st.accepted.add(now)
	st.accepted.prune(now.Add(-keep))
	e.seq++
	uid := messageUID(e.seq, e.uidKey)
	p := Push{
		Seq: e.seq, ID: uid, MessageUID: uid, AppKey: c.appKey, ReceivedAt: now, RequestID: c.requestID,
		Request: *req, Recipients: resolveAudience(req.Audience, st.users), Notifications: notifications, Answer: "ok",
	}
	if c.stallSent {
		p.Answer = "stall_sent"
	}
	e.pushes = append(e.pushes, p)
	if len(e.pushes) >= 2*e.maxPushes { // trim rarely: amortised O(1) per push
		e.pushes = slices.Clone(e.pushes[len(e.pushes)-e.maxPushes:])
	}
	return ok(map[string]any{"id": uid, "messageUID": uid})
}

// withIsToAllRequired adds a problem to err (the result of ValidateFields)
// when the body has no audience.is_to_all: the field is required
// (push-by-tag.txt), and a Go bool cannot tell false from absent.
//
// The presence check must look at the audience the push uses. DecodeRequest
// decodes the body into generic maps, where a repeated key's last value wins
// at every level; decoding into a struct field instead would merge a repeated
// "audience" object into the first one and could find an is_to_all the used
// audience lacks. So the body is decoded here into generic maps too, the same
// last-wins reading (a body DecodeRequest accepted is well formed, and its
// keys are matched exactly in both).
func withIsToAllRequired(body []byte, err error) error {
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		if audience, ok := doc["audience"].(map[string]any); ok && audience["is_to_all"] != nil {
			return err
		}
	}
	var problems []pushapi.FieldError
	var ve *pushapi.ValidationError
	if errors.As(err, &ve) {
		problems = slices.Clone(ve.Problems)
	}
	problems = append(problems, pushapi.FieldError{Path: "audience.is_to_all", Rule: "required: true or false", Code: pushapi.CodeParam})
	return &pushapi.ValidationError{Problems: problems}
}

// requireList reports a 1002 answer when field is absent or null in the JSON
// object body: the service wants [] to clear, not null.
func requireList(body []byte, field string) (answer, bool) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return decodeAnswer(err), true
	}
	v, ok := raw[field]
	if !ok || string(bytes.TrimSpace(v)) == "null" {
		return fail(http.StatusBadRequest, pushapi.CodeParam, "%s: required (send [] to clear)", field), true
	}
	return answer{}, false
}

// processTagSet handles /user/tag/set.json: replaces one user's tags.
func (e *Emulator) processTagSet(c *call) answer {
	if a, bad := requireList(c.body, "tags"); bad {
		return a
	}
	var req pushapi.SetUserTagsRequest
	if err := pushapi.DecodeJSON(c.body, &req); err != nil {
		return validationAnswer(err)
	}
	if err := req.Validate(); err != nil {
		return validationAnswer(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c.st.setTags(req.UserID, req.Tags)
	return ok(nil)
}

// setTags replaces a user's tags, keeping its package name.
func (st *app) setTags(id string, tags []string) {
	u, ok := st.users[id]
	if !ok {
		u = &user{}
		st.users[id] = u
	}
	u.tags = slices.Clone(tags)
}

// processTagBatchSet handles /user/tag/batch/set.json: replaces the tags of
// every listed user; at most BatchSetPerSecond calls per rolling second.
func (e *Emulator) processTagBatchSet(c *call) answer {
	e.mu.Lock()
	now := e.clock.now()
	l := &c.st.batchSets
	if len(l.between(now.Add(-time.Second), now)) >= BatchSetPerSecond {
		e.mu.Unlock()
		return fail(http.StatusTooManyRequests, pushapi.CodeRateLimited, "rate limit exceeded: %d batch tag calls per second", BatchSetPerSecond)
	}
	l.add(now)
	l.prune(now.Add(-time.Second))
	e.mu.Unlock()

	if a, bad := requireList(c.body, "tags"); bad {
		return a
	}
	var req pushapi.BatchSetUserTagsRequest
	if err := pushapi.DecodeJSON(c.body, &req); err != nil {
		return validationAnswer(err)
	}
	if err := req.Validate(); err != nil {
		return validationAnswer(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range req.UserIDs {
		c.st.setTags(id, req.Tags)
	}
	return ok(nil)
}

// processTagsGet handles /user/tags/get.json: form-encoded repeated userIds.
func (e *Emulator) processTagsGet(c *call) answer {
	form, err := url.ParseQuery(string(c.body))
	if err != nil {
		return fail(http.StatusBadRequest, pushapi.CodeParam, "body: want form-encoded userIds=a&userIds=b: %v", err)
	}
	ids := form["userIds"]
	if len(ids) == 0 {
		return fail(http.StatusBadRequest, pushapi.CodeParam, "userIds: required")
	}
	if err := pushapi.ValidateGetUserTags(ids); err != nil {
		return validationAnswer(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	result := make(map[string][]string, len(ids))
	for _, id := range ids {
		tags := []string{}
		if u, ok := c.st.users[id]; ok && u.tags != nil {
			tags = slices.Clone(u.tags)
		}
		result[id] = tags
	}
	return ok(map[string]any{"result": result})
}
