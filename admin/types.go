package admin

import (
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/quota"
)

// Problem is one invalid field: its path (a JSON path into the body, or the
// name of a query or path parameter) and the rule it breaks.
type Problem struct {
	Path string `json:"path"`
	Rule string `json:"rule"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Rule
	}
	return p.Path + ": " + p.Rule
}

// ErrorBody is every error response.
type ErrorBody struct {
	Error string `json:"error"`
	// Problems lists every invalid field (400).
	Problems []Problem `json:"problems,omitempty"`
	// ServiceCode and ServiceStatus are the push service's code and HTTP
	// status when it refused a forwarded call (502).
	ServiceCode   int `json:"service_code,omitempty"`
	ServiceStatus int `json:"service_status,omitempty"`
	// ServiceRequestID is the X-Request-ID of the forwarded call.
	ServiceRequestID string `json:"service_request_id,omitempty"`
	// RequestID is this API's id of the request (also in X-Request-ID).
	RequestID string `json:"request_id,omitempty"`
}

// CampaignPage is one page of GET /v1/campaigns.
type CampaignPage struct {
	Campaigns []campaign.Campaign `json:"campaigns"`
	// NextAfter is the `after` of the next page; 0 (omitted) on the last.
	// A page may hold fewer campaigns than its limit (it stops before
	// campaign.MaxListPageBytes): NextAfter, not its length, tells.
	NextAfter int64 `json:"next_after,omitempty"`
}

// RetryResult says what a retry re-opened.
type RetryResult struct {
	CampaignID int64      `json:"campaign_id,omitempty"`
	Unknown    bool       `json:"unknown"` // unknown sends were included
	Runs       []RunRetry `json:"runs"`
	Reset      int        `json:"reset"` // sends reset, over all runs
	// Warnings say what went wrong after sends were re-opened: a run
	// re-opened but not queued at once (the reconciler queues it), or a
	// run of the campaign that could not be retried. The re-opened sends
	// go out either way.
	Warnings []string `json:"warnings,omitempty"`
	// Incomplete: runs of the campaign the retry should have re-opened
	// were not (the store failed part way; Warnings name them). Those runs
	// are untouched: retrying again re-opens them.
	Incomplete bool `json:"incomplete,omitempty"`
	// Replayed: runs were re-opened by an earlier request under the same
	// Idempotency-Key (its answer lost, or it stopped part way); they are
	// in Runs, marked Earlier, and counted in Reset, and were not
	// re-opened again.
	Replayed bool `json:"replayed,omitempty"`
}

// RunRetry is one run a retry re-opened.
type RunRetry struct {
	RunID int64 `json:"run_id"`
	Reset int   `json:"reset"`
	// Earlier: re-opened by an earlier request under the same
	// Idempotency-Key, not by this one.
	Earlier bool `json:"earlier,omitempty"`
}

// QuotaReport is GET /v1/quota: every configured app's quota.
type QuotaReport struct {
	At   time.Time      `json:"at"`
	Apps []quota.Status `json:"apps"`
}

// QuotaUnblock answers DELETE /v1/quota/{app}/block: the app's quota after
// the unblock, and the block it lifted.
type QuotaUnblock struct {
	quota.Status
	// Lifted reports that the app was blocked and no longer is. The server
	// always sets it; nil in a client's result means the server did not
	// say (one older than this client, which answered the quota only).
	Lifted *bool `json:"lifted"`
	// LiftedBlockUntil is when the lifted block would have ended (zero
	// when nothing was lifted).
	LiftedBlockUntil time.Time `json:"lifted_block_until,omitzero"`
}

// TagsSet is the body of PUT /v1/apps/{app}/users/{user}/tags.
type TagsSet struct {
	Tags []string `json:"tags"`
}

// TagsBatchSet is the body of POST /v1/apps/{app}/tags/batch.
type TagsBatchSet struct {
	UserIDs []string `json:"userIds"`
	Tags    []string `json:"tags"`
}

// TagsSetResult answers the set and batch endpoints: the users and the tags
// they now have.
type TagsSetResult struct {
	App     string   `json:"app"`
	UserIDs []string `json:"userIds"`
	Tags    []string `json:"tags"`
}

// TagsGetResult answers GET /v1/apps/{app}/tags: each user's tags.
type TagsGetResult struct {
	App   string              `json:"app"`
	Users map[string][]string `json:"users"`
}
