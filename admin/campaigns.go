package admin

import (
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

// createCampaign is POST /v1/campaigns: the body is a campaign file, JSON or
// YAML by Content-Type.
func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request) {
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
	now := s.now()
	c, err := campaign.ParseFile(data, campaign.ValidateOptions{Now: now, Apps: s.opts.Apps})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	created, err := s.opts.Store.Create(r.Context(), c, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info().Str("request_id", requestID(r)).Int64("campaign", created.ID).Str("app", created.App).
		Str("name", created.Name).Str("schedule", created.Schedule.Kind()).Msg("campaign created")
	w.Header().Set("Location", fmt.Sprintf("/v1/campaigns/%d", created.ID))
	s.writeJSON(w, r, http.StatusCreated, created)
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

// showCampaign is GET /v1/campaigns/{id}.
func (s *Server) showCampaign(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "campaign")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.opts.Store.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if d.Runs == nil {
		d.Runs = []campaign.RunDetail{}
	}
	s.writeJSON(w, r, http.StatusOK, d)
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
	for _, k := range keys {
		if !slices.Contains(known, k) {
			problems = append(problems, Problem{Path: k, Rule: fmt.Sprintf("unknown query parameter (known: %s)", strings.Join(known, ", "))})
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
	d, err := s.opts.Store.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if d.Status == campaign.CampaignCancelled {
		s.fail(w, r, &apiError{status: http.StatusConflict, body: errorf("campaign %d is cancelled: its runs cannot be retried", id)})
		return
	}
	res := RetryResult{CampaignID: id, Unknown: unknown, Runs: []RunRetry{}}
	for _, run := range d.Runs {
		if !slices.Contains(retryable, run.Status) {
			continue
		}
		n, err := s.opts.Operations.Retry(r.Context(), run.ID, unknown)
		switch {
		case errors.Is(err, campaign.ErrNothingToRetry), errors.Is(err, campaign.ErrIllegalTransition), errors.Is(err, campaign.ErrNotFound):
			// This run has nothing to re-open, or it changed since the
			// campaign was read (a late answer settled it, another
			// operator re-opened it); the others may still be retried.
			continue
		case err != nil && n == 0:
			if res.Reset > 0 {
				// Runs already re-opened will go out: say so with the
				// error rather than answer as if nothing happened.
				s.log.Warn().Err(err).Str("request_id", requestID(r)).Int64("campaign", id).Int64("run", run.ID).Msg("retry stopped part way")
				res.Warnings = append(res.Warnings, fmt.Sprintf("run %d: not retried: %v", run.ID, err))
				continue
			}
			s.fail(w, r, fmt.Errorf("campaign %d: retry run %d: %w", id, run.ID, err))
			return
		case err != nil:
			s.log.Warn().Err(err).Str("request_id", requestID(r)).Int64("run", run.ID).Msg("run retried, but not enqueued at once")
			res.Warnings = append(res.Warnings, retryWarning(run.ID, err))
		}
		if n > 0 {
			res.Runs = append(res.Runs, RunRetry{RunID: run.ID, Reset: n})
			res.Reset += n
		}
	}
	if res.Reset == 0 {
		s.fail(w, r, &apiError{status: http.StatusConflict, body: errorf("campaign %d: nothing to retry: no settled run has failed or expired sends%s", id, unknownHint(unknown))})
		return
	}
	s.log.Info().Str("request_id", requestID(r)).Int64("campaign", id).Bool("unknown", unknown).Int("reset", res.Reset).Int("runs", len(res.Runs)).Msg("campaign retried")
	s.writeJSON(w, r, http.StatusOK, res)
}
