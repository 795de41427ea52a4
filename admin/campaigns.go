package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tagcast/tagcast/campaign"
)

// Limits of GET /v1/campaigns.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// campaignContentTypes are the accepted media types of a campaign file.
var campaignContentTypes = []string{"application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}

// readBody reads the (already size-limited) body.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return data, nil
}

// Idempotency headers of POST /v1/campaigns.
const (
	// HeaderIdempotencyKey carries the client's key for one create
	// (optional): a retry under the same key and body gets the campaign
	// the first attempt created instead of a second one.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is "true" on the answer to such a retry.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
)

// idempotencyKey reads the Idempotency-Key header: "" when absent, a 400
// naming the header and its rule when it breaks the rule or is given more
// than once.
func idempotencyKey(r *http.Request) (string, error) {
	vals, ok := r.Header[HeaderIdempotencyKey]
	if !ok {
		return "", nil
	}
	rule := ""
	if len(vals) != 1 {
		rule = fmt.Sprintf("must be given once, got %d values", len(vals))
	} else if err := campaign.CheckIdempotencyKey(vals[0]); err != nil {
		rule = err.Error()
	}
	if rule != "" {
		return "", invalid("invalid "+HeaderIdempotencyKey+" header", Problem{Path: HeaderIdempotencyKey, Rule: rule})
	}
	return vals[0], nil
}

// requestHash identifies what a campaign is created from: the SHA-256, in
// hex, of the body's media type (lower case, without parameters), a NUL
// and the raw body. A retry must send the same bytes: the same campaign
// re-encoded (JSON for YAML, keys reordered) is another request.
func requestHash(mediaType string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(mediaType))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// createCampaign is POST /v1/campaigns: the body is a campaign file, JSON or
// YAML by Content-Type. With an Idempotency-Key, a create whose key a
// campaign was created under answers that campaign as it is now (200,
// Idempotent-Replayed: true) when the body is the same, before the body is
// validated again (what changed since, such as an `at` now past, must not
// refuse a retry of a create that succeeded), and 422 when it is not.
func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request) {
	key, err := idempotencyKey(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.refuseQuery(w, r) {
		return
	}
	mt, ok := s.mediaType(w, r, campaignContentTypes)
	if !ok {
		return
	}
	data, err := readBody(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		s.fail(w, r, invalid("invalid campaign: empty body", Problem{Rule: "the body is the campaign file (name, app, schedule, vars, push)"}))
		return
	}
	ik := campaign.IdempotencyKey{Key: key, RequestHash: requestHash(mt, data)}
	if key != "" {
		existing, found, err := s.opts.Store.FindIdempotent(r.Context(), ik)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if found {
			s.replayCreate(w, r, existing, key)
			return
		}
	}
	now := s.now()
	c, err := campaign.ParseFile(data, campaign.ValidateOptions{Now: now, Apps: s.opts.Apps})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var created campaign.Campaign
	if key == "" {
		created, err = s.opts.Store.Create(r.Context(), c, now)
	} else {
		var replayed bool
		created, replayed, err = s.opts.Store.CreateIdempotent(r.Context(), c, ik, now)
		if err == nil && replayed {
			// A concurrent create under the key won.
			s.replayCreate(w, r, created, key)
			return
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ev := s.log.Info().Str("request_id", requestID(r)).Int64("campaign", created.ID).Str("app", created.App).
		Str("name", created.Name).Str("schedule", created.Schedule.Kind())
	if key != "" {
		ev = ev.Str("idempotency_key", key)
	}
	ev.Msg("campaign created")
	w.Header().Set("Location", fmt.Sprintf("/v1/campaigns/%d", created.ID))
	s.writeJSON(w, r, http.StatusCreated, created)
}

// replayCreate answers a create retried under the key c was created with:
// c as it is now, 200, Idempotent-Replayed: true.
func (s *Server) replayCreate(w http.ResponseWriter, r *http.Request, c campaign.Campaign, key string) {
	s.log.Info().Str("request_id", requestID(r)).Int64("campaign", c.ID).Str("idempotency_key", key).
		Msg("campaign create replayed: created before under this idempotency key")
	w.Header().Set("Location", fmt.Sprintf("/v1/campaigns/%d", c.ID))
	w.Header().Set(HeaderIdempotentReplayed, "true")
	s.writeJSON(w, r, http.StatusOK, c)
}

// listCampaigns is GET /v1/campaigns?app=&status=&name=&after=&limit=.
func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := campaign.ListFilter{App: q.Get("app"), Name: q.Get("name"), Limit: DefaultListLimit}
	problems := unknownQueryKeys(r, "app", "status", "name", "after", "limit")
	problems = append(problems, repeatedQueryKeys(r, "app", "status", "name", "after", "limit")...)
	for _, key := range []string{"app", "name"} {
		// Invalid UTF-8 or a NUL matches no stored name, and PostgreSQL
		// would refuse the query (SQLite would not): the same 400 on both.
		if v := q.Get(key); !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			problems = append(problems, Problem{Path: key, Rule: "must be UTF-8 text without NUL (U+0000)"})
		}
	}
	if st := q.Get("status"); st != "" {
		f.Status = campaign.CampaignStatus(st)
		if !campaign.Valid(f.Status) {
			problems = append(problems, Problem{Path: "status", Rule: fmt.Sprintf("must be one of %s, got %q", joinStatuses(campaign.Statuses[campaign.CampaignStatus]()), st)})
		}
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			problems = append(problems, Problem{Path: "after", Rule: fmt.Sprintf("must be a campaign id (a non-negative integer), got %q", v)})
		}
		f.After = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			problems = append(problems, Problem{Path: "limit", Rule: fmt.Sprintf("must be an integer from 1 to %d, got %q", MaxListLimit, v)})
		}
		f.Limit = n
	}
	if len(problems) > 0 {
		s.fail(w, r, invalid("invalid query", problems...))
		return
	}
	cs, next, err := s.opts.Store.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if cs == nil {
		cs = []campaign.Campaign{}
	}
	page := CampaignPage{Campaigns: cs, NextAfter: next}
	s.writeJSON(w, r, http.StatusOK, page)
}

func joinStatuses[S campaign.Status](ss []S) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// pathID parses the {id} path parameter.
func pathID(r *http.Request, what string) (int64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, invalid("invalid "+what+" id", Problem{Path: "id", Rule: fmt.Sprintf("must be a %s id (a positive integer), got %q", what, v)})
	}
	return id, nil
}

// showCampaign is GET /v1/campaigns/{id}?runs_limit=&runs_before=: the
// campaign, the newest page of its runs (older pages through runs_before)
// and the counts of all its runs by status. Never every run: a campaign
// firing every minute has 525,000 runs a year.
func (s *Server) showCampaign(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var problems []Problem
	id, err := pathID(r, "campaign")
	var ae *apiError
	if errors.As(err, &ae) {
		problems = append(problems, ae.body.Problems...)
	}
	problems = append(problems, unknownQueryKeys(r, "runs_limit", "runs_before")...)
	problems = append(problems, repeatedQueryKeys(r, "runs_limit", "runs_before")...)
	rq := campaign.RunsQuery{Limit: campaign.DefaultRunsLimit}
	if v := q.Get("runs_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > campaign.MaxRunsLimit {
			problems = append(problems, Problem{Path: "runs_limit", Rule: fmt.Sprintf("must be an integer from 1 to %d, got %q", campaign.MaxRunsLimit, v)})
		}
		rq.Limit = n
	}
	if v := q.Get("runs_before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			problems = append(problems, Problem{Path: "runs_before", Rule: fmt.Sprintf("must be a run id (a positive integer: the runs_next of the previous page), got %q", v)})
		}
		rq.Before = n
	}
	if len(problems) > 0 {
		s.fail(w, r, invalid("invalid query", problems...))
		return
	}
	d, err := s.opts.Store.Get(r.Context(), id, rq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if d.Runs == nil {
		d.Runs = []campaign.RunDetail{}
	}
	s.writeJSON(w, r, http.StatusOK, d)
}

// showRun is GET /v1/campaigns/{id}/runs/{run}: one run of the campaign
// with its sends; 404 when the run is not the campaign's.
func (s *Server) showRun(w http.ResponseWriter, r *http.Request) {
	var problems []Problem
	id, err := pathID(r, "campaign")
	var ae *apiError
	if errors.As(err, &ae) {
		problems = append(problems, ae.body.Problems...)
	}
	v := r.PathValue("run")
	runID, err := strconv.ParseInt(v, 10, 64)
	if err != nil || runID < 1 {
		problems = append(problems, Problem{Path: "run", Rule: fmt.Sprintf("must be a run id (a positive integer), got %q", v)})
	}
	problems = append(problems, unknownQueryKeys(r)...)
	if len(problems) > 0 {
		s.fail(w, r, invalid("invalid run", problems...))
		return
	}
	run, sends, err := s.opts.Store.GetRun(r.Context(), runID)
	if err != nil && !errors.Is(err, campaign.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if err != nil || run.CampaignID != id {
		// Say which is missing: the campaign, or its run.
		if _, cerr := s.opts.Store.GetCampaign(r.Context(), id); cerr != nil {
			s.fail(w, r, cerr)
			return
		}
		s.writeError(w, r, http.StatusNotFound, errorf("campaign %d has no run %d", id, runID))
		return
	}
	if sends == nil {
		sends = []campaign.Send{}
	}
	s.writeJSON(w, r, http.StatusOK, campaign.RunDetail{Run: run, Sends: sends})
}

// operate is POST /v1/campaigns/{id}/pause|resume|cancel.
func (s *Server) operate(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r, "campaign")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if s.refuseQuery(w, r) {
			return
		}
		var (
			c    campaign.Campaign
			body any
		)
		switch op {
		case "pause":
			c, err = s.opts.Operations.Pause(r.Context(), id)
			body = c
		case "resume":
			// A campaign of an app no longer configured would fire runs no
			// worker can send (as a retry of its runs would re-open them).
			if c, err = s.opts.Store.GetCampaign(r.Context(), id); err == nil && !slices.Contains(s.opts.Apps, c.App) {
				err = s.appGone(fmt.Sprintf("campaign %d", id), c.App, "resume")
			}
			if err == nil {
				c, err = s.opts.Operations.Resume(r.Context(), id)
			}
			body = c
		default:
			var cc campaign.Cancellation
			cc, err = s.opts.Operations.Cancel(r.Context(), id)
			c, body = cc.Campaign, cc
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.log.Info().Str("request_id", requestID(r)).Int64("campaign", id).Str("operation", op).Str("status", string(c.Status)).Msg("campaign " + op)
		s.writeJSON(w, r, http.StatusOK, body)
	}
}

// refuseQuery answers 400 when r carries a query parameter not in known,
// and reports whether it did: an endpoint that changes state must not do
// so under a parameter it ignores (?dry_run=true would create or cancel
// for real), nor answer one as if it were absent.
func (s *Server) refuseQuery(w http.ResponseWriter, r *http.Request, known ...string) bool {
	problems := unknownQueryKeys(r, known...)
	if len(problems) > 0 {
		s.fail(w, r, invalid("invalid query", problems...))
	}
	return len(problems) > 0
}

// mediaType returns r's media type when it is one of accepted; otherwise
// it answers 415 and returns false.
func (s *Server) mediaType(w http.ResponseWriter, r *http.Request, accepted []string) (string, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(accepted, mt) {
		s.writeError(w, r, http.StatusUnsupportedMediaType, errorf("Content-Type must be one of %s, got %q",
			strings.Join(accepted, ", "), r.Header.Get("Content-Type")))
		return "", false
	}
	return mt, true
}

// unknownQueryKeys lists a problem for each query parameter of r not in
// known: a misspelt one (?stauts=, ?unknow=) would otherwise be ignored
// and the request answered as if it were absent. A query that does not
// parse is a problem too: r.URL.Query() drops what it cannot decode
// (?unknown=tru%e, a ; separator), which would answer as if it were absent.
func unknownQueryKeys(r *http.Request, known ...string) []Problem {
	var problems []Problem
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		problems = append(problems, Problem{Path: "query", Rule: fmt.Sprintf("must be a valid query string (name=value pairs joined by &, percent-encoded): %v", err)})
	}
	keys := slices.Sorted(maps.Keys(q))
	rule := fmt.Sprintf("unknown query parameter (known: %s)", strings.Join(known, ", "))
	if len(known) == 0 {
		rule = "unknown query parameter (this endpoint takes none)"
	}
	for _, k := range keys {
		if !slices.Contains(known, k) {
			problems = append(problems, Problem{Path: k, Rule: rule})
		}
	}
	return problems
}

// repeatedQueryKeys names each of keys r's query gives more than once: the
// handlers read one value, and ?after=0&after=N (a cursor added to a URL
// that had one) would serve the first page again, forever, rather than be
// refused.
func repeatedQueryKeys(r *http.Request, keys ...string) []Problem {
	var problems []Problem
	q := r.URL.Query()
	for _, k := range keys {
		if n := len(q[k]); n > 1 {
			problems = append(problems, Problem{Path: k, Rule: fmt.Sprintf("must be given once, got %d values", n)})
		}
	}
	return problems
}
