package admin

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tagcast/tagcast/campaign"
)

// Operator retries: POST /v1/campaigns/{id}/retry and POST /v1/runs/{id}/retry.
//
// A retry may carry an Idempotency-Key. The store records, in the
// transaction that re-opens a run, the key it was re-opened under, and a
// retry under the same key re-opens no run the key re-opened before: a
// retry sent again because its answer was lost (a timeout, a proxy reset,
// a campaign of many runs that outlasted the client) finishes what the
// first one did not, and does not re-send what the first one re-opened and
// has ended unknown again (with unknown=true, a push that may already have
// been delivered, pushed once more). Its answer names what the key
// re-opened in all, the earlier runs marked so.

// unknownParam parses ?unknown=true|false (default false), given at most
// once: ?unknown=true&unknown=false is refused, not read as either.
func unknownParam(r *http.Request) (bool, error) {
	vals := r.URL.Query()["unknown"]
	switch {
	case len(vals) == 0 || (len(vals) == 1 && vals[0] == ""):
		return false, nil
	case len(vals) > 1:
		return false, invalid("invalid query", Problem{Path: "unknown", Rule: fmt.Sprintf("must be given once, got %d values", len(vals))})
	}
	b, err := strconv.ParseBool(vals[0])
	if err != nil {
		return false, invalid("invalid query", Problem{Path: "unknown", Rule: fmt.Sprintf("must be true or false, got %q", vals[0])})
	}
	return b, nil
}

// retryRequest is a retry request's options.
type retryRequest struct {
	unknown bool
	// key is nil without an Idempotency-Key.
	key *campaign.IdempotencyKey
	// earlier are the runs re-opened under key before this request, by
	// run id.
	earlier map[int64]campaign.RetryRecord
}

// keyName is the Idempotency-Key, "" without one.
func (q retryRequest) keyName() string {
	if q.key == nil {
		return ""
	}
	return q.key.Key
}

func (q retryRequest) options() campaign.RetryOptions {
	return campaign.RetryOptions{Unknown: q.unknown, Key: q.key}
}

// retryHash identifies a retry request for its Idempotency-Key: what it
// retries (a campaign or a run, by id) and whether unknown sends are
// included. The key sent again with any other is refused.
func retryHash(what string, id int64, unknown bool) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "retry\x00%s\x00%d\x00%t", what, id, unknown))
	return hex.EncodeToString(sum[:])
}

// retryParams reads a retry's id, ?unknown= and Idempotency-Key, with every
// problem at once, then what the key re-opened before: a key used before
// for another retry is refused (422).
func (s *Server) retryParams(r *http.Request, what string) (int64, retryRequest, error) {
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
	key, err := idempotencyKey(r)
	if errors.As(err, &ae) {
		problems = append(problems, ae.body.Problems...)
	}
	if len(problems) > 0 {
		return 0, retryRequest{}, invalid("invalid retry", problems...)
	}
	req := retryRequest{unknown: unknown}
	if key == "" {
		return id, req, nil
	}
	req.key = &campaign.IdempotencyKey{Key: key, RequestHash: retryHash(what, id, unknown)}
	recs, err := s.opts.Store.RetriesUnderKey(r.Context(), key)
	if err != nil {
		return 0, retryRequest{}, err
	}
	req.earlier = make(map[int64]campaign.RetryRecord, len(recs))
	for _, rec := range recs { // one request's: the store binds a key to one
		if rec.RequestHash != req.key.RequestHash {
			return 0, retryRequest{}, &campaign.IdempotencyKeyReusedError{Key: key, Retry: "another retry request"}
		}
		req.earlier[rec.RunID] = rec
	}
	return id, req, nil
}

// replayRetry answers a retry whose key re-opened runs before: res, with
// Idempotent-Replayed: true.
func (s *Server) replayRetry(w http.ResponseWriter, r *http.Request, req retryRequest, res RetryResult) {
	res.Replayed = true
	ev := s.log.Info().Str("request_id", requestID(r))
	if res.CampaignID != 0 {
		ev = ev.Int64("campaign", res.CampaignID)
	} else if len(res.Runs) == 1 {
		ev = ev.Int64("run", res.Runs[0].RunID)
	}
	ev.Str("idempotency_key", req.key.Key).Int("reset", res.Reset).Int("runs", len(res.Runs)).Strs("warnings", res.Warnings).
		Msg("retry replayed: runs re-opened before under this idempotency key")
	w.Header().Set(HeaderIdempotentReplayed, "true")
	s.writeJSON(w, r, http.StatusOK, res)
}

// retryRun is POST /v1/runs/{id}/retry?unknown=true.
func (s *Server) retryRun(w http.ResponseWriter, r *http.Request) {
	id, req, err := s.retryParams(r, "run")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	run, _, err := s.opts.Store.GetRun(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var refusal *apiError
	if !slices.Contains(s.opts.Apps, run.App) {
		refusal = s.appGone(fmt.Sprintf("run %d", id), run.App, "retry")
	}
	replay := func(reset int) {
		res := RetryResult{Unknown: req.unknown, Runs: []RunRetry{{RunID: id, Reset: reset, Earlier: true}}, Reset: reset}
		if run.Status == campaign.RunCancelled {
			res.Warnings = append(res.Warnings, fmt.Sprintf("run %d has been cancelled since (its campaign was cancelled): what it had not sent will not be sent", id))
		}
		if refusal != nil {
			res.Warnings = append(res.Warnings, refusal.body.Error)
		}
		s.replayRetry(w, r, req, res)
	}
	// A retry sent again under its key answers what the key did, whatever
	// happened since (a cancel, the app removed: said as warnings).
	if rec, ok := req.earlier[id]; ok {
		replay(rec.Reset)
		return
	}
	if refusal != nil {
		s.fail(w, r, refusal)
		return
	}
	n, err := s.opts.Operations.Retry(r.Context(), id, req.options())
	if again := (*campaign.RetriedUnderKeyError)(nil); errors.As(err, &again) {
		replay(again.Reset) // the same retry, sent twice at once
		return
	}
	if errors.Is(err, campaign.ErrNothingToRetry) || (err == nil && n == 0) {
		s.fail(w, r, &apiError{status: http.StatusConflict, body: errorf("run %d: nothing to retry: no failed or expired sends%s", id, unknownHint(req.unknown))})
		return
	}
	res := RetryResult{Unknown: req.unknown, Runs: []RunRetry{{RunID: id, Reset: n}}, Reset: n}
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
	s.log.Info().Str("request_id", requestID(r)).Int64("run", id).Bool("unknown", req.unknown).Str("idempotency_key", req.keyName()).Int("reset", n).Msg("run retried")
	s.writeJSON(w, r, http.StatusOK, res)
}

// appGone refuses to act (a retry of runs, a resume: the verb) on what
// when its app is no longer configured: no worker has a client for it, so
// a re-opened or newly fired run would stay pending for good, its task
// failing and revived by the reconciler, and go out late, every one of
// them, if the app came back.
func (s *Server) appGone(what, app, verb string) *apiError {
	return &apiError{status: http.StatusConflict, body: errorf("%s: app %q is not configured (configured: %s): no worker could send it; configure the app again to %s",
		what, app, strings.Join(s.opts.Apps, ", "), verb)}
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
	id, req, err := s.retryParams(r, "campaign")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.opts.Store.GetCampaign(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res := RetryResult{CampaignID: id, Unknown: req.unknown, Runs: []RunRetry{}}
	var refusal *apiError
	switch {
	case c.Status == campaign.CampaignCancelled:
		refusal = &apiError{status: http.StatusConflict, body: errorf("campaign %d is cancelled: its runs cannot be retried", id)}
	case !slices.Contains(s.opts.Apps, c.App): // its runs are of its app
		refusal = s.appGone(fmt.Sprintf("campaign %d", id), c.App, "retry")
	}
	if refusal != nil {
		if len(req.earlier) == 0 {
			s.fail(w, r, refusal)
			return
		}
		// Sent again under its key: what the key did, and why nothing
		// more is.
		res.Warnings = append(res.Warnings, refusal.body.Error+": nothing more re-opened")
		s.addEarlier(r, req, &res)
		slices.SortFunc(res.Runs, func(a, b RunRetry) int { return cmp.Compare(a.RunID, b.RunID) })
		s.replayRetry(w, r, req, res)
		return
	}
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
		if !s.retryRuns(w, r, id, req, runs, &res) {
			return
		}
		if res.Incomplete && r.Context().Err() != nil {
			break // the client went away (retryRuns said where it stopped)
		}
	}
	s.addEarlier(r, req, &res)
	slices.SortFunc(res.Runs, func(a, b RunRetry) int { return cmp.Compare(a.RunID, b.RunID) })
	if res.Reset == 0 {
		s.fail(w, r, &apiError{status: http.StatusConflict, body: errorf("campaign %d: nothing to retry: no settled run has failed or expired sends%s", id, unknownHint(req.unknown))})
		return
	}
	if len(req.earlier) > 0 {
		s.replayRetry(w, r, req, res)
		return
	}
	s.log.Info().Str("request_id", requestID(r)).Int64("campaign", id).Bool("unknown", req.unknown).Str("idempotency_key", req.keyName()).
		Int("reset", res.Reset).Int("runs", len(res.Runs)).Msg("campaign retried")
	s.writeJSON(w, r, http.StatusOK, res)
}

// addEarlier adds to res the runs re-opened under req's key by other
// requests: read again now, as a twin request sent at the same time may
// have re-opened runs this one never saw as retryable; what was read
// before (at the start, and from the store's refusals) when that fails.
func (s *Server) addEarlier(r *http.Request, req retryRequest, res *RetryResult) {
	if req.key == nil {
		return
	}
	recs, err := s.opts.Store.RetriesUnderKey(r.Context(), req.key.Key)
	if err != nil {
		s.log.Warn().Err(err).Str("request_id", requestID(r)).Str("idempotency_key", req.key.Key).Msg("retry: runs re-opened earlier under the key not read again")
	}
	for _, rec := range recs {
		if rec.RequestHash == req.key.RequestHash { // another request's when it bound the key meanwhile
			req.earlier[rec.RunID] = rec
		}
	}
	for _, run := range res.Runs {
		delete(req.earlier, run.RunID) // re-opened by this request
	}
	for _, rec := range req.earlier {
		res.Runs = append(res.Runs, RunRetry{RunID: rec.RunID, Reset: rec.Reset, Earlier: true})
		res.Reset += rec.Reset
	}
}

// retryRuns re-opens runs of campaign id, adding what it did to res. It
// answers the request and returns false when it must stop (the first run
// failed with nothing re-opened yet).
func (s *Server) retryRuns(w http.ResponseWriter, r *http.Request, id int64, req retryRequest, runs []campaign.Run, res *RetryResult) bool {
	for _, run := range runs {
		if _, ok := req.earlier[run.ID]; ok {
			continue // re-opened under this key before, and settled since
		}
		if err := r.Context().Err(); err != nil && res.Reset > 0 {
			// The client went away part way: one warning, not one a run
			// (each store call would fail). Sent again under its key, the
			// retry goes on from here.
			s.log.Warn().Err(err).Str("request_id", requestID(r)).Int64("campaign", id).Int64("run", run.ID).Msg("retry stopped part way: request cancelled")
			res.Warnings = append(res.Warnings, fmt.Sprintf("runs from %d on: not retried: the request was cancelled (%v)", run.ID, err))
			res.Incomplete = true
			return true
		}
		n, err := s.opts.Operations.Retry(r.Context(), run.ID, req.options())
		var again *campaign.RetriedUnderKeyError
		switch {
		case errors.As(err, &again):
			// Re-opened under this key before: it is not re-opened again
			// (a send it re-opened may have ended unknown since).
			req.earlier[run.ID] = campaign.RetryRecord{RunID: run.ID, Reset: again.Reset, At: again.At}
			continue
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
