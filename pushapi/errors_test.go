package pushapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		err         error
		want        Outcome
		wantNotSent bool
	}{
		{"nil is sent", nil, OutcomeSent, false},
		{"1000", &Error{HTTPStatus: 500, Code: 1000}, OutcomeRetry, false},
		{"1050", &Error{HTTPStatus: 504, Code: 1050}, OutcomeRetry, false},
		{"5xx without code", &Error{HTTPStatus: 502}, OutcomeRetry, false},
		{"network error before write", &Error{Err: errors.New("connection refused")}, OutcomeRetry, true},
		{"429", &Error{HTTPStatus: 429}, OutcomeRateLimited, false},
		{"1008", &Error{HTTPStatus: 429, Code: 1008}, OutcomeRateLimited, false},
		{"1008 on HTTP 200", &Error{HTTPStatus: 200, Code: 1008}, OutcomeRateLimited, false},
		{"1001", &Error{HTTPStatus: 401, Code: 1001}, OutcomeFailed, true},
		{"1002", &Error{HTTPStatus: 400, Code: 1002}, OutcomeFailed, true},
		{"1003", &Error{HTTPStatus: 400, Code: 1003}, OutcomeFailed, true},
		{"1004", &Error{HTTPStatus: 401, Code: 1004}, OutcomeFailed, true},
		{"1005", &Error{HTTPStatus: 400, Code: 1005}, OutcomeFailed, true},
		{"1006", &Error{HTTPStatus: 401, Code: 1006}, OutcomeFailed, true},
		{"1007", &Error{HTTPStatus: 401, Code: 1007}, OutcomeFailed, true},
		{"1009", &Error{HTTPStatus: 430, Code: 1009}, OutcomeFailed, true},
		{"430 without body", &Error{HTTPStatus: 430}, OutcomeFailed, true},
		{"404 page", &Error{HTTPStatus: 404}, OutcomeFailed, true},
		{"3xx", &Error{HTTPStatus: 302}, OutcomeFailed, false},
		{"200 with an unknown error code", &Error{HTTPStatus: 200, Code: 20005}, OutcomeFailed, false},
		{"200 without readable body", &Error{HTTPStatus: 200, MayHaveReached: true}, OutcomeUnknown, false},
		{"timeout after write", &Error{MayHaveReached: true, Err: context.DeadlineExceeded}, OutcomeUnknown, false},
		{"400 after an earlier 5xx attempt", &Error{HTTPStatus: 400, Code: 1002, MayHaveReached: true}, OutcomeFailed, false},
		{"validation error", (&Client{}).invalid(PathPush, &ValidationError{Problems: []FieldError{{"platform", "required", 1002}}}), OutcomeFailed, true},
		{"bare validation error", &ValidationError{}, OutcomeFailed, false},
		{"wrapped", fmt.Errorf("campaign 4 run 2 send 1: %w", &Error{HTTPStatus: 429, Code: 1008}), OutcomeRateLimited, false},
		{"foreign error is unknown", errors.New("boom"), OutcomeUnknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify = %s, want %s", got, tt.want)
			}
			var e *Error
			if errors.As(tt.err, &e) && e.NotSent() != tt.wantNotSent {
				t.Errorf("NotSent = %v, want %v", e.NotSent(), tt.wantNotSent)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999999999999999", 0}, // overflows int64: malformed
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestHTTPStatusForCode(t *testing.T) {
	t.Parallel()
	got := map[int]int{}
	for _, c := range []int{200, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1050, 4242} {
		got[c] = HTTPStatusForCode(c)
	}
	want := map[int]int{200: 200, 1000: 500, 1001: 401, 1002: 400, 1003: 400, 1004: 401, 1005: 400, 1006: 401,
		1007: 401, 1008: 429, 1009: 430, 1050: 504, 4242: 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestErrorMessageNamesTheCall(t *testing.T) {
	t.Parallel()
	e := &Error{Path: "/push.json", Host: "https://api.rong-api.com", RequestID: "rid", HTTPStatus: 400, Code: 1002, Message: "platform is required"}
	want := "pushapi: /push.json at https://api.rong-api.com (request id rid): HTTP 400: code 1002: platform is required"
	if e.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", e.Error(), want)
	}
}
