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
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(campaignContentTypes, mt) {
		s.writeError(w, r, http.StatusUnsupportedMediaType, errorf("Content-Type must be one of %s, got %q",
			strings.Join(campaignContentTypes, ", "), r.Header.Get("Content-Type")))
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
		var c campaign.Campaign
		switch op {
		case "pause":
			c, err = s.opts.Operations.Pause(r.Context(), id)
		case "resume":
			c, err = s.opts.Operations.Resume(r.Context(), id)
		default:
			c, err = s.opts.Operations.Cancel(r.Context(), id)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.log.Info().Str("request_id", requestID(r)).Int64("campaign", id).Str("operation", op).Str("status", string(c.Status)).Msg("campaign " + op)
		s.writeJSON(w, r, http.StatusOK, c)
	}
}

// unknownParam parses ?unknown=true|false (default false).
func unknownParam(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("unknown")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalid("invalid query", Problem{Path: "unknown", Rule: fmt.Sprintf("must be true or false, got %q", v)})
	}
	return b, nil
}

// unknownQueryKeys lists a problem for each query parameter of r not in
// known: a misspelt one (?stauts=, ?unknow=) would otherwise be ignored
// and the request answered as if it were absent.
func unknownQueryKeys(r *http.Request, known ...string) []Problem {
	var problems []Problem
	keys := slices.Sorted(maps.Keys(r.URL.Query()))
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

// retryParams reads a retry's id and ?unknown=, with every problem at once.
func retryParams(r *http.Request, what string) (int64, bool, error) {
	var problems []Problem
	id, err := pathID(r, what)
	var ae *apiError
	if errors.As(err, &ae) {
		problems = append(problems, ae.body.Problems...)
	}
	unknown, err := unknownParam(r)
	if errors.As(err, &ae) {
		problems = append(problems, ae.body.Problems...)
	}
	problems = append(problems, unknownQueryKeys(r, "unknown")...)
	if len(problems) > 0 {
		return 0, false, invalid("invalid retry", problems...)
	}
	return id, unknown, nil
}

// retryRun is POST /v1/runs/{id}/retry?unknown=true.
func (s *Server) retryRun(w http.ResponseWriter, r *http.Request) {
	id, unknown, err := retryParams(r, "run")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	run, _, err := s.opts.Store.GetRun(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !slices.Contains(s.opts.Apps, run.App) {
		s.fail(w, r, s.appGone(fmt.Sprintf("run %d", id), run.App))
		return
	}
	n, err := s.opts.Operations.Retry(r.Context(), id, unknown)
	if errors.Is(err, campaign.ErrNothingToRetry) || (err == nil && n == 0) {
		s.fail(w, r, &apiError{status: http.StatusConflict, body: errorf("run %d: nothing to retry: no failed or expired sends%s", id, unknownHint(unknown))})
		return
	}
	res := RetryResult{Unknown: unknown, Runs: []RunRetry{{RunID: id, Reset: n}}, Reset: n}
	if err != nil {
		if n == 0 {
			s.fail(w, r, err)
			return
		}
		// The sends are re-opened in the store and will go out (the
		// reconciler enqueues what the enqueue here could not): failing
		// the request would tell the operator the opposite.
		s.log.Warn().Err(err).Str("request_id", requestID(r)).Int64("run", id).Msg("run retried, but not enqueued at once")
		res.Warnings = append(res.Warnings, retryWarning(id, err))
	}
	s.log.Info().Str("request_id", requestID(r)).Int64("run", id).Bool("unknown", unknown).Int("reset", n).Msg("run retried")
	s.writeJSON(w, r, http.StatusOK, res)
}

// appGone refuses a retry of runs (of what) whose app is no longer
// configured: no worker has a client for it, so a re-opened run would stay
// pending for good, its task failing and revived by the reconciler.
func (s *Server) appGone(what, app string) *apiError {
	return &apiError{status: http.StatusConflict, body: errorf("%s: app %q is not configured (configured: %s): no worker could send it; configure the app again to retry",
		what, app, strings.Join(s.opts.Apps, ", "))}
}

// retryWarning says that a run was re-opened but its enqueue (or the record
// of it) failed, so it goes out when the reconciler next enqueues it.
func retryWarning(runID int64, err error) string {
	return fmt.Sprintf("run %d: re-opened, but it could not be queued at once (%v); the scheduler's reconciler will queue it", runID, err)
}

func unknownHint(unknown bool) string {
	if unknown {
		return " nor unknown sends"
	}
	return " (unknown sends are retried only when asked: unknown=true, `tagcast campaign retry --unknown`)"
}

// retryBatch is how many retryable runs a campaign retry reads at a time.
const retryBatch = 500

// retryable are the settled run statuses a retry may re-open.
var retryable = []campaign.RunStatus{campaign.RunFailed, campaign.RunPartiallyFailed, campaign.RunExpired}

// retryCampaign is POST /v1/campaigns/{id}/retry?unknown=true: every settled
// run of the campaign with failed or expired (or unknown) sends.
func (s *Server) retryCampaign(w http.ResponseWriter, r *http.Request) {
	id, unknown, err := retryParams(r, "campaign")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.opts.Store.GetCampaign(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if c.Status == campaign.CampaignCancelled {
		s.fail(w, r, &apiError{status: http.StatusConflict, body: errorf("campaign %d is cancelled: its runs cannot be retried", id)})
		return
	}
	if !slices.Contains(s.opts.Apps, c.App) { // its runs are of its app
		s.fail(w, r, s.appGone(fmt.Sprintf("campaign %d", id), c.App))
		return
	}
	res := RetryResult{CampaignID: id, Unknown: unknown, Runs: []RunRetry{}}
	// The retryable runs, a batch at a time in id order: the store selects
	// them, so a campaign of many settled runs is never read whole.
	for after := int64(0); ; {
		runs, err := s.opts.Store.RunsWithStatus(r.Context(), id, retryable, after, retryBatch)
		if err != nil {
			if res.Reset > 0 {
				s.log.Warn().Err(err).Str("request_id", requestID(r)).Int64("campaign", id).Msg("retry stopped part way")
				res.Warnings = append(res.Warnings, fmt.Sprintf("runs after %d: not retried: %v", after, err))
				res.Incomplete = true
				break
			}
			s.fail(w, r, err)
			return
		}
		if len(runs) == 0 {
			break
		}
		after = runs[len(runs)-1].ID
		if !s.retryRuns(w, r, id, unknown, runs, &res) {
			return
		}
	}
	if res.Reset == 0 {
		s.fail(w, r, &apiError{status: http.StatusConflict, body: errorf("campaign %d: nothing to retry: no settled run has failed or expired sends%s", id, unknownHint(unknown))})
		return
	}
	s.log.Info().Str("request_id", requestID(r)).Int64("campaign", id).Bool("unknown", unknown).Int("reset", res.Reset).Int("runs", len(res.Runs)).Msg("campaign retried")
	s.writeJSON(w, r, http.StatusOK, res)
}

// retryRuns re-opens runs of campaign id, adding what it did to res. It
// answers the request and returns false when it must stop (the first run
// failed with nothing re-opened yet).
func (s *Server) retryRuns(w http.ResponseWriter, r *http.Request, id int64, unknown bool, runs []campaign.Run, res *RetryResult) bool {
	for _, run := range runs {
		n, err := s.opts.Operations.Retry(r.Context(), run.ID, unknown)
		switch {
		case errors.Is(err, campaign.ErrNothingToRetry), errors.Is(err, campaign.ErrIllegalTransition), errors.Is(err, campaign.ErrNotFound):
			// This run has nothing to re-open, or it changed since the
			// runs were read (a late answer settled it, another operator
			// re-opened it); the others may still be retried.
			continue
		case err != nil && n == 0:
			if res.Reset > 0 {
				// Runs already re-opened will go out: say so with the
				// error rather than answer as if nothing happened.
				s.log.Warn().Err(err).Str("request_id", requestID(r)).Int64("campaign", id).Int64("run", run.ID).Msg("retry stopped part way")
				res.Warnings = append(res.Warnings, fmt.Sprintf("run %d: not retried: %v", run.ID, err))
				res.Incomplete = true
				continue
			}
			s.fail(w, r, fmt.Errorf("campaign %d: retry run %d: %w", id, run.ID, err))
			return false
		case err != nil:
			s.log.Warn().Err(err).Str("request_id", requestID(r)).Int64("run", run.ID).Msg("run retried, but not enqueued at once")
			res.Warnings = append(res.Warnings, retryWarning(run.ID, err))
		}
		if n > 0 {
			res.Runs = append(res.Runs, RunRetry{RunID: run.ID, Reset: n})
			res.Reset += n
		}
	}
	return true
}
