package pushapi

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
)

// Paths of the Server API endpoints this package calls.
const (
	PathPush            = "/push.json"
	PathSetUserTags     = "/user/tag/set.json"
	PathBatchSetTags    = "/user/tag/batch/set.json"
	PathGetUserTags     = "/user/tags/get.json"
	contentTypeJSON     = "application/json"
	contentTypeFormURL  = "application/x-www-form-urlencoded"
	getUserTagsFormName = "userIds"
)

// SetUserTagsRequest is the body of /user/tag/set.json. It replaces all tags of
// the user; an empty (or nil) Tags clears them and is always sent as [] (never
// null, which the service does not treat as "clear").
type SetUserTagsRequest struct {
	UserID string   `json:"userId"`
	Tags   []string `json:"tags"`
}

// MarshalJSON sends nil Tags as [].
func (r SetUserTagsRequest) MarshalJSON() ([]byte, error) {
	type plain SetUserTagsRequest
	p := plain(r)
	if p.Tags == nil {
		p.Tags = []string{}
	}
	return json.Marshal(p)
}

// BatchSetUserTagsRequest is the body of /user/tag/batch/set.json: each user's
// tags are replaced by Tags; an empty (or nil) Tags is sent as [].
type BatchSetUserTagsRequest struct {
	UserIDs []string `json:"userIds"`
	Tags    []string `json:"tags"`
}

// MarshalJSON sends nil Tags as [].
func (r BatchSetUserTagsRequest) MarshalJSON() ([]byte, error) {
	type plain BatchSetUserTagsRequest
	p := plain(r)
	if p.Tags == nil {
		p.Tags = []string{}
	}
	return json.Marshal(p)
}

// GetUserTagsResponse is the body of a /user/tags/get.json answer.
type GetUserTagsResponse struct {
	Code   int                 `json:"code"`
	Result map[string][]string `json:"result"`
}

// SetUserTags replaces all tags of one user (at most 20 tags of at most 40
// bytes); an empty tags clears them. The request is validated before sending.
func (c *Client) SetUserTags(ctx context.Context, userID string, tags []string) error {
	req := SetUserTagsRequest{UserID: userID, Tags: tags}
	if err := req.Validate(); err != nil {
		return c.invalid(PathSetUserTags, err)
	}
	body, err := encodeJSON(req)
	if err == nil {
		err = checkBodySize(body)
	}
	if err != nil {
		return c.invalid(PathSetUserTags, err)
	}
	_, err = c.call(ctx, PathSetUserTags, contentTypeJSON, body, nil)
	return err
}

// checkBodySize refuses a tag call's body over MaxBodyBytes, which the
// emulator applies to every body it receives: the service documents no
// limit on the ids' length, so a batch of long ids could otherwise pass
// Validate and still be refused.
func checkBodySize(body []byte) error {
	if len(body) <= MaxBodyBytes {
		return nil
	}
	var p problems
	p.add("body", CodeTooLong, "at most %d bytes encoded, got %d", MaxBodyBytes, len(body))
	return p.err()
}

// BatchSetUserTags replaces the tags of up to 1000 users with the same tags.
// The service limits this endpoint to 10 requests per second per App Key.
func (c *Client) BatchSetUserTags(ctx context.Context, userIDs, tags []string) error {
	req := BatchSetUserTagsRequest{UserIDs: userIDs, Tags: tags}
	if err := req.Validate(); err != nil {
		return c.invalid(PathBatchSetTags, err)
	}
	body, err := encodeJSON(req)
	if err == nil {
		err = checkBodySize(body)
	}
	if err != nil {
		return c.invalid(PathBatchSetTags, err)
	}
	_, err = c.call(ctx, PathBatchSetTags, contentTypeJSON, body, nil)
	return err
}

// GetUserTags returns the tags of up to 50 users, keyed by user id; a user
// without tags maps to an empty slice. The request is form-encoded with the
// key userIds repeated.
func (c *Client) GetUserTags(ctx context.Context, userIDs []string) (map[string][]string, error) {
	if err := ValidateGetUserTags(userIDs); err != nil {
		return nil, c.invalid(PathGetUserTags, err)
	}
	form := url.Values{getUserTagsFormName: slices.Clone(userIDs)}
	if err := checkBodySize([]byte(form.Encode())); err != nil {
		return nil, c.invalid(PathGetUserTags, err)
	}
	var resp GetUserTagsResponse
	if _, err := c.call(ctx, PathGetUserTags, contentTypeFormURL, []byte(form.Encode()), &resp); err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(resp.Result))
	for id, tags := range resp.Result {
		if tags == nil {
			tags = []string{}
		}
		out[id] = tags
	}
	return out, nil
}
