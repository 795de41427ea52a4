package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
)

// apiError is an error with the status and body it answers with.
type apiError struct {
	status int
	body   ErrorBody
}

func (e *apiError) Error() string { return e.body.Error }

// errorf builds the body of an error answer.
func errorf(format string, a ...any) ErrorBody { return ErrorBody{Error: fmt.Sprintf(format, a...)} }

// invalid is a 400 listing every problem.
func invalid(msg string, problems ...Problem) *apiError {
	return &apiError{status: http.StatusBadRequest, body: ErrorBody{Error: msg, Problems: problems}}
}

// writeJSON answers v with status.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		s.log.Debug().Str("request_id", requestID(r)).Err(err).Msg("admin: writing the response failed")
	}
}

// writeError answers an error body with status.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, body ErrorBody) {
	body.RequestID = requestID(r)
	s.writeJSON(w, r, status, body)
}

// fail answers err: typed errors map to their status, anything else is a
// 500 whose cause goes to the log only.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ae  *apiError
		cve *campaign.ValidationError
		pe  *pushapi.Error
		pve *pushapi.ValidationError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae):
		s.writeError(w, r, ae.status, ae.body)
	case errors.As(err, &mbe):
		s.writeError(w, r, http.StatusRequestEntityTooLarge, errorf("request body is over the limit of %d bytes", mbe.Limit))
	case errors.As(err, &cve):
		problems := make([]Problem, len(cve.Problems))
		for i, p := range cve.Problems {
			problems[i] = Problem{Path: p.Path, Rule: p.Rule}
		}
		s.writeError(w, r, http.StatusBadRequest, ErrorBody{Error: "invalid campaign", Problems: problems})
	case errors.As(err, &pe) && pe.HTTPStatus == 0 && errors.As(pe.Err, &pve), errors.As(err, &pve):
		s.writeError(w, r, http.StatusBadRequest, ErrorBody{Error: pve.Error(), Problems: fieldProblems(pve)})
	case errors.As(err, &pe):
		s.log.Warn().Str("request_id", requestID(r)).Str("path", pe.Path).Int("service_status", pe.HTTPStatus).
			Int("service_code", pe.Code).Str("service_request_id", pe.RequestID).Msg("admin: the push service refused a forwarded call")
		status := http.StatusBadGateway
		if pe.Outcome() == pushapi.OutcomeRateLimited {
			// The service's rate limit (the tag APIs allow 10 calls a
			// second): the caller's to wait, not a server fault.
			status = http.StatusTooManyRequests
			if pe.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int((pe.RetryAfter+time.Second-1)/time.Second)))
			}
		}
		s.writeError(w, r, status, ErrorBody{
			Error:       "push service: " + pe.Error(),
			ServiceCode: pe.Code, ServiceStatus: pe.HTTPStatus, ServiceRequestID: pe.RequestID,
		})
	case errors.Is(err, campaign.ErrIdempotencyKeyReused):
		rule := "reused with a different request: a retry must send the same body with the same Content-Type; a new campaign needs a new key"
		if reused := (*campaign.IdempotencyKeyReusedError)(nil); errors.As(err, &reused) && reused.Retry != "" {
			rule = "reused with a different request: a retry sent again must name the same campaign or run with the same unknown=; a new retry needs a new key"
		}
		s.writeError(w, r, http.StatusUnprocessableEntity, ErrorBody{Error: err.Error(), Problems: []Problem{{Path: HeaderIdempotencyKey, Rule: rule}}})
	case errors.Is(err, campaign.ErrNotFound):
		s.writeError(w, r, http.StatusNotFound, errorf("%v", err))
	case errors.Is(err, campaign.ErrIllegalTransition):
		s.writeError(w, r, http.StatusConflict, errorf("%v", err))
	case errors.Is(err, quota.ErrUnknownApp):
		s.writeError(w, r, http.StatusNotFound, errorf("%v", err))
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		s.writeError(w, r, http.StatusServiceUnavailable, errorf("request cancelled"))
	default:
		s.log.Error().Str("request_id", requestID(r)).Str("method", r.Method).Str("path", r.URL.Path).Err(err).Msg("admin: internal error")
		s.writeError(w, r, http.StatusInternalServerError, errorf("internal error (request id %s; see the server log)", requestID(r)))
	}
}

func fieldProblems(ve *pushapi.ValidationError) []Problem {
	out := make([]Problem, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = Problem{Path: p.Path, Rule: p.Rule}
	}
	return out
}
