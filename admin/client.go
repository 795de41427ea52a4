package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/quota"
)

// maxClientResponseBytes caps a response the client reads (a page of 100
// runs of 2,500-id sends is a few MiB; a campaign's runs come a page at a
// time). An answer over it is an error that says so, never cut short.
const maxClientResponseBytes = 64 << 20

// Client calls the admin API. It never puts the token in an error.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// NewClient returns a client of the admin API at baseURL (http or https)
// that authenticates with token. A nil httpClient uses one with a 30 s
// timeout.
func NewClient(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("admin server %q: must be an http(s) URL such as http://127.0.0.1:8080", baseURL)
	}
	if token == "" {
		return nil, errors.New("admin client: no token (set the variable named by admin.token_env, default TAGCAST_ADMIN_TOKEN)")
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	// A redirect is answered, not followed: net/http would follow a 301,
	// 302 or 303 with a GET and no body, and a POST creating a campaign
	// would read the campaign list as its answer and report success. (A
	// copy: the caller's client keeps its own policy.)
	hc := *httpClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u.User = nil
	return &Client{base: u, token: token, http: &hc}, nil
}

// BaseURL is the server's base URL.
func (c *Client) BaseURL() string { return c.base.String() }

// APIError is an error answer of the admin API.
type APIError struct {
	Status int // HTTP status
	ErrorBody
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "admin API: HTTP %d: %s", e.Status, e.ErrorBody.Error)
	if e.ServiceCode != 0 {
		fmt.Fprintf(&b, " (service code %d)", e.ServiceCode)
	}
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// UnreachableError means the admin API could not be reached at all.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	if OutcomeUnknown(e.Err) {
		// The request went out (or may have): a timeout, a connection
		// closed or reset before the answer.
		return fmt.Sprintf("admin API at %s did not answer (the request may have been carried out: look before repeating it): %v", e.URL, e.Err)
	}
	return fmt.Sprintf("admin API at %s is unreachable (is `tagcast api` or `tagcast serve` running there? see admin.server): %v", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// do sends a request and decodes a 2xx JSON answer into out (when not nil).
// path is already escaped (each segment by url.PathEscape): it goes out as
// written, so an id holding "/", " " or non-ASCII reaches the server whole
// and is not escaped a second time.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, contentType string, body []byte, out any) error {
	_, err := c.doHeader(ctx, method, path, query, nil, contentType, body, out)
	return err
}

// doHeader is do with request headers, returning a 2xx answer's headers.
func (c *Client) doHeader(ctx context.Context, method, path string, query url.Values, header http.Header, contentType string, body []byte, out any) (http.Header, error) {
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			// The server's router would resolve it as a directory and
			// redirect: a name (an app, a user) cannot be "." or "..".
			return nil, fmt.Errorf("admin API %s %s: %q cannot be a name in a path", method, path, seg)
		}
	}
	u := *c.base
	u.RawPath = c.base.EscapedPath() + path
	unescaped, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	u.Path = unescaped
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("admin API %s %s: %w", method, path, ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in UnreachableError already
		}
		return nil, &UnreachableError{URL: c.base.String(), Err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxClientResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("admin API %s %s: read answer: %w", method, path, err)
	}
	if len(data) > maxClientResponseBytes {
		return nil, fmt.Errorf("admin API %s %s: HTTP %d: the answer is over the client's limit of %d MiB and was not read", method, path, resp.StatusCode, maxClientResponseBytes>>20)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// An error page (a proxy's, a gateway's) may echo the request's
		// headers: the token never reaches the error.
		data = bytes.ReplaceAll(data, []byte(c.token), []byte("[redacted]"))
		ae := &APIError{Status: resp.StatusCode}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode <= 399:
			where := resp.Header.Get("Location")
			if l, err := url.Parse(where); err == nil {
				l.User, l.RawQuery = nil, "" // shown: nothing of it may be secret
				where = l.String()
			}
			ae.ErrorBody = ErrorBody{Error: fmt.Sprintf("redirected to %q, not followed (nothing was done): set admin.server to the address that answers", where)}
		case json.Unmarshal(data, &ae.ErrorBody) != nil || ae.ErrorBody.Error == "":
			ae.ErrorBody = ErrorBody{Error: strings.TrimSpace(http.StatusText(resp.StatusCode) + " " + firstLine(data))}
		}
		return nil, ae
	}
	if out == nil {
		return resp.Header, nil
	}
	a, shaped := out.(answer)
	if shaped {
		out = a.out
	}
	if err := unmarshalNumbers(data, out); err != nil {
		return resp.Header, fmt.Errorf("admin API %s %s: decode answer: %w", method, path, err)
	}
	if shaped {
		var keys map[string]json.RawMessage
		if json.Unmarshal(data, &keys) != nil || keys[a.key] == nil || string(keys[a.key]) == "null" {
			return resp.Header, &WrongAnswerError{Method: method, Path: path, Status: resp.StatusCode, Want: a.what, Key: a.key}
		}
	}
	return resp.Header, nil
}

// unmarshalNumbers is json.Unmarshal keeping a number decoded into an
// interface (a campaign's vars) as a json.Number: a float64 would round
// 9007199254740993 to another number, and what the client shows would not
// be what the store holds and the pushes carry.
func unmarshalNumbers(data []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid character after the answer's JSON value")
	}
	return nil
}

// answer is what a call's 2xx answer must be: out, decoded, from a JSON
// object holding key (not null); what names it in the error.
type answer struct {
	out       any
	key, what string
}

// WrongAnswerError is a 2xx answer that is not the admin API's: a JSON
// object without the key every answer of the call holds (a gateway's
// catch-all, a health page, another service at admin.server). Decoded as
// is it would read as success with nothing in it ("campaign 0 created").
// Whether anything was done cannot be told: OutcomeUnknown is true.
type WrongAnswerError struct {
	Method, Path string
	Status       int
	Want, Key    string
}

func (e *WrongAnswerError) Error() string {
	return fmt.Sprintf("admin API %s %s: HTTP %d, but the answer is not %s (it has no %q): is admin.server tagcast's admin API?",
		e.Method, e.Path, e.Status, e.Want, e.Key)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// CreateCampaign creates a campaign from a campaign file; contentType is
// "application/yaml" or "application/json". It sends no idempotency key:
// a retry after a lost answer creates a second campaign. See
// CreateCampaignWith.
func (c *Client) CreateCampaign(ctx context.Context, file []byte, contentType string) (campaign.Campaign, error) {
	res, err := c.CreateCampaignWith(ctx, file, contentType, CreateOptions{})
	return res.Campaign, err
}

// CreateOptions are CreateCampaignWith's options.
type CreateOptions struct {
	// IdempotencyKey, when not empty, is sent as the Idempotency-Key header
	// (1 to 255 characters of visible ASCII; campaign.CheckIdempotencyKey):
	// a call under a key a campaign was created under, with the same file
	// and content type, creates nothing and answers that campaign; with
	// another file it is an *APIError with Status 422. To create a campaign
	// at most once, choose the key before the first call and reuse it for
	// every retry of that call (after a timeout, a network error or a 5xx:
	// OutcomeUnknown).
	IdempotencyKey string
}

// Created is CreateCampaignWith's answer.
type Created struct {
	Campaign campaign.Campaign
	// Replayed: the campaign was created before, under the same
	// idempotency key and from the same request; Campaign is as it is now.
	Replayed bool
}

// CreateCampaignWith creates a campaign from a campaign file, as
// CreateCampaign, with options.
func (c *Client) CreateCampaignWith(ctx context.Context, file []byte, contentType string, opts CreateOptions) (Created, error) {
	var header http.Header
	if opts.IdempotencyKey != "" {
		header = http.Header{HeaderIdempotencyKey: {opts.IdempotencyKey}}
	}
	var out Created
	h, err := c.doHeader(ctx, http.MethodPost, "/v1/campaigns", nil, header, contentType, file, answer{&out.Campaign, "id", "a campaign"})
	out.Replayed = h.Get(HeaderIdempotentReplayed) == "true"
	return out, err
}

// OutcomeUnknown reports whether a call that failed with err may still
// have been carried out by the server: its answer was lost (a timeout, a
// connection closed or reset after the request went out, an answer that
// could not be read) or was a 5xx (the server, or a proxy before it,
// failed after the request may have reached it). It is false for an
// answer that refused the request (a 3xx or 4xx) and for a connection
// never made (refused, unknown host, TLS verification): then nothing was
// done. A create that failed this way is retried safely only under the
// same idempotency key.
func OutcomeUnknown(err error) bool {
	if err == nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	var (
		op   *net.OpError
		dns  *net.DNSError
		cert *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &op) && op.Op == "dial", errors.As(err, &dns), errors.As(err, &cert):
		return false
	}
	return true
}

// ListQuery filters and pages GET /v1/campaigns; zero fields do not filter.
type ListQuery struct {
	App    string
	Status campaign.CampaignStatus
	Name   string
	After  int64
	Limit  int
}

// ListCampaigns returns one page of campaigns.
func (c *Client) ListCampaigns(ctx context.Context, q ListQuery) (CampaignPage, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("app", q.App)
	set("status", string(q.Status))
	set("name", q.Name)
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out CampaignPage
	err := c.do(ctx, http.MethodGet, "/v1/campaigns", v, "", nil, answer{&out, "campaigns", "a page of campaigns"})
	return out, err
}

// GetCampaign returns a campaign with its newest runs (a page of
// campaign.DefaultRunsLimit) and their sends, and the counts of all its
// runs by status.
func (c *Client) GetCampaign(ctx context.Context, id int64) (campaign.Detail, error) {
	return c.GetCampaignPage(ctx, id, campaign.RunsQuery{})
}

// GetCampaignPage returns a campaign with the page of its runs q selects
// (newest first; q.Before is the previous page's RunsNext) and the counts
// of all its runs by status. Zero fields of q are the server's defaults.
func (c *Client) GetCampaignPage(ctx context.Context, id int64, q campaign.RunsQuery) (campaign.Detail, error) {
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("runs_limit", strconv.Itoa(q.Limit))
	}
	if q.Before > 0 {
		v.Set("runs_before", strconv.FormatInt(q.Before, 10))
	}
	var out campaign.Detail
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/campaigns/%d", id), v, "", nil, answer{&out, "id", "a campaign"})
	return out, err
}

// GetCampaignAll returns a campaign with every run (newest first), read a
// page of pageSize runs at a time (0: campaign.MaxRunsLimit; fewer when
// their sends pass campaign.MaxRunsPageBytes) by following runs_next to
// the end; the campaign and the counts are the first page's.
// The pages are separate reads: a run that changes status during the walk
// shows the status its page read. Its memory grows with the campaign's run
// count: for a campaign that fires often, prefer GetCampaignPage.
func (c *Client) GetCampaignAll(ctx context.Context, id int64, pageSize int) (campaign.Detail, error) {
	if pageSize <= 0 {
		pageSize = campaign.MaxRunsLimit
	}
	d, err := c.GetCampaignPage(ctx, id, campaign.RunsQuery{Limit: pageSize})
	if err != nil {
		return d, err
	}
	for next := d.RunsNext; next != 0; {
		page, err := c.GetCampaignPage(ctx, id, campaign.RunsQuery{Limit: pageSize, Before: next})
		if err != nil {
			return campaign.Detail{}, fmt.Errorf("campaign %d: runs before %d: %w", id, next, err)
		}
		if page.RunsNext != 0 && page.RunsNext >= next {
			return campaign.Detail{}, fmt.Errorf("campaign %d: runs before %d: the server's next cursor %d does not move back", id, next, page.RunsNext)
		}
		d.Runs = append(d.Runs, page.Runs...)
		next = page.RunsNext
	}
	d.RunsNext = 0
	return d, nil
}

// GetRun returns one run of a campaign with its sends; a run of another
// campaign (or none) is an *APIError with Status 404.
func (c *Client) GetRun(ctx context.Context, campaignID, runID int64) (campaign.RunDetail, error) {
	var out campaign.RunDetail
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/campaigns/%d/runs/%d", campaignID, runID), nil, "", nil, answer{&out, "id", "a run"})
	return out, err
}

// PauseCampaign pauses a campaign.
func (c *Client) PauseCampaign(ctx context.Context, id int64) (campaign.Campaign, error) {
	return c.operate(ctx, id, "pause")
}

// ResumeCampaign resumes a paused campaign.
func (c *Client) ResumeCampaign(ctx context.Context, id int64) (campaign.Campaign, error) {
	return c.operate(ctx, id, "resume")
}

// CancelCampaign cancels a campaign; the answer says how many of its runs
// and unsent sends the cancel cancelled.
func (c *Client) CancelCampaign(ctx context.Context, id int64) (campaign.Cancellation, error) {
	var out campaign.Cancellation
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/campaigns/%d/cancel", id), nil, "", nil, answer{&out, "id", "a campaign"})
	return out, err
}

func (c *Client) operate(ctx context.Context, id int64, op string) (campaign.Campaign, error) {
	var out campaign.Campaign
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/campaigns/%d/%s", id, op), nil, "", nil, answer{&out, "id", "a campaign"})
	return out, err
}

func unknownQuery(unknown bool) url.Values {
	if !unknown {
		return nil
	}
	return url.Values{"unknown": {"true"}}
}

// RetryCampaign re-sends the failed and expired sends (and unknown ones when
// unknown) of every settled run of a campaign. It sends no idempotency
// key; see RetryCampaignWith.
func (c *Client) RetryCampaign(ctx context.Context, id int64, unknown bool) (RetryResult, error) {
	return c.RetryCampaignWith(ctx, id, RetryOptions{Unknown: unknown})
}

// RetryRun re-sends the failed and expired (and unknown) sends of one run.
// It sends no idempotency key; see RetryRunWith.
func (c *Client) RetryRun(ctx context.Context, runID int64, unknown bool) (RetryResult, error) {
	return c.RetryRunWith(ctx, runID, RetryOptions{Unknown: unknown})
}

// RetryOptions are RetryCampaignWith's and RetryRunWith's options.
type RetryOptions struct {
	// Unknown re-sends unknown sends too (they may have been delivered).
	Unknown bool
	// IdempotencyKey, when not empty, is sent as the Idempotency-Key header
	// (campaign.CheckIdempotencyKey): a call under a key that re-opened
	// runs before re-opens none of them again and answers them with
	// Earlier set (RetryResult.Replayed). To retry at most once, choose
	// the key before the first call and reuse it for every call of that
	// retry after an OutcomeUnknown error; the same key for another retry
	// (another campaign or run, or another Unknown) is an *APIError with
	// Status 422.
	IdempotencyKey string
}

func (o RetryOptions) header() http.Header {
	if o.IdempotencyKey == "" {
		return nil
	}
	return http.Header{HeaderIdempotencyKey: {o.IdempotencyKey}}
}

// RetryCampaignWith is RetryCampaign with options.
func (c *Client) RetryCampaignWith(ctx context.Context, id int64, opts RetryOptions) (RetryResult, error) {
	var out RetryResult
	_, err := c.doHeader(ctx, http.MethodPost, fmt.Sprintf("/v1/campaigns/%d/retry", id), unknownQuery(opts.Unknown), opts.header(), "", nil, answer{&out, "runs", "a retry's result"})
	return out, err
}

// RetryRunWith is RetryRun with options.
func (c *Client) RetryRunWith(ctx context.Context, runID int64, opts RetryOptions) (RetryResult, error) {
	var out RetryResult
	_, err := c.doHeader(ctx, http.MethodPost, fmt.Sprintf("/v1/runs/%d/retry", runID), unknownQuery(opts.Unknown), opts.header(), "", nil, answer{&out, "runs", "a retry's result"})
	return out, err
}

// Quota returns every configured app's quota.
func (c *Client) Quota(ctx context.Context) (QuotaReport, error) {
	var out QuotaReport
	err := c.do(ctx, http.MethodGet, "/v1/quota", nil, "", nil, answer{&out, "apps", "a quota report"})
	return out, err
}

// UnblockQuota lifts one app's quota block and returns the block it lifted
// and the app's quota after.
func (c *Client) UnblockQuota(ctx context.Context, app string) (QuotaUnblock, error) {
	var out QuotaUnblock
	err := c.do(ctx, http.MethodDelete, "/v1/quota/"+url.PathEscape(app)+"/block", nil, "", nil, answer{&out, "app", "an app's quota"})
	return out, err
}

// AppQuota returns one app's quota.
func (c *Client) AppQuota(ctx context.Context, app string) (quota.Status, error) {
	var out quota.Status
	err := c.do(ctx, http.MethodGet, "/v1/quota/"+url.PathEscape(app), nil, "", nil, answer{&out, "app", "an app's quota"})
	return out, err
}

// SetUserTags replaces the tags of one user of app.
func (c *Client) SetUserTags(ctx context.Context, app, user string, tags []string) (TagsSetResult, error) {
	body, err := json.Marshal(TagsSet{Tags: nonNil(tags)})
	if err != nil {
		return TagsSetResult{}, err
	}
	var out TagsSetResult
	err = c.do(ctx, http.MethodPut, "/v1/apps/"+url.PathEscape(app)+"/users/"+url.PathEscape(user)+"/tags", nil, "application/json", body, answer{&out, "app", "a tag update's result"})
	return out, err
}

// BatchSetUserTags replaces the tags of up to 1000 users of app.
func (c *Client) BatchSetUserTags(ctx context.Context, app string, users, tags []string) (TagsSetResult, error) {
	body, err := json.Marshal(TagsBatchSet{UserIDs: users, Tags: nonNil(tags)})
	if err != nil {
		return TagsSetResult{}, err
	}
	var out TagsSetResult
	err = c.do(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(app)+"/tags/batch", nil, "application/json", body, answer{&out, "app", "a tag update's result"})
	return out, err
}

// GetUserTags returns the tags of up to 50 users of app.
func (c *Client) GetUserTags(ctx context.Context, app string, users []string) (TagsGetResult, error) {
	var out TagsGetResult
	err := c.do(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(app)+"/tags", url.Values{"user": users}, "", nil, answer{&out, "app", "users' tags"})
	return out, err
}

// Ready returns /readyz's answer; a 503 is an *APIError.
func (c *Client) Ready(ctx context.Context) (ReadyStatus, error) {
	var out ReadyStatus
	err := c.do(ctx, http.MethodGet, PathReadyz, nil, "", nil, answer{&out, "status", "a readiness answer"})
	return out, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
