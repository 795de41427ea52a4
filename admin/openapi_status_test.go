package admin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/quota"
)

// reviewStore and reviewOps answer every call with "not found": these
// tests are about the answers to bad requests and unavailable dependencies.
type reviewStore struct{}

func (reviewStore) Create(context.Context, campaign.Campaign, time.Time) (campaign.Campaign, error) {
	return campaign.Campaign{}, campaign.ErrNotFound
}

func (reviewStore) List(context.Context, campaign.ListFilter) ([]campaign.Campaign, int64, error) {
	return nil, 0, nil
}

func (reviewStore) Get(context.Context, int64) (campaign.Detail, error) {
	return campaign.Detail{}, campaign.ErrNotFound
}

type reviewOps struct{}

func (reviewOps) Pause(context.Context, int64) (campaign.Campaign, error) {
	return campaign.Campaign{}, campaign.ErrNotFound
}

func (reviewOps) Resume(context.Context, int64) (campaign.Campaign, error) {
	return campaign.Campaign{}, campaign.ErrNotFound
}

func (reviewOps) Cancel(context.Context, int64) (campaign.Campaign, error) {
	return campaign.Campaign{}, campaign.ErrNotFound
}

func (reviewOps) Retry(context.Context, int64, bool) (int, error) { return 0, campaign.ErrNotFound }

// reviewQuota is a quota reader whose Redis is down.
type reviewQuota struct{}

func (reviewQuota) Status(context.Context, string) (quota.Status, error) {
	return quota.Status{}, errors.New("quota: app main: dial tcp 127.0.0.1:6379: connect: connection refused")
}

// documentedStatuses reads the response codes api/openapi.yaml lists for
// each "METHOD /path" operation.
func documentedStatuses(t *testing.T) map[string]map[string]bool {
	t.Helper()
	data, err := os.ReadFile("../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for path, ops := range doc.Paths {
		for method, node := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Responses map[string]any `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatal(err)
			}
			codes := map[string]bool{}
			for c := range op.Responses {
				codes[c] = true
			}
			out[method+" "+path] = codes
		}
	}
	return out
}

// TestStatusesAreDocumented sends requests an operator's client may
// send and checks that api/openapi.yaml documents the status each gets.
func TestStatusesAreDocumented(t *testing.T) {
	t.Parallel()
	srv, err := admin.New(admin.Options{
		Tokens: []string{tokenA}, Apps: []string{"main"},
		Store: reviewStore{}, Operations: reviewOps{}, Quota: reviewQuota{},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	documented := documentedStatuses(t)
	for _, tc := range []struct{ op, method, target string }{
		{"post /v1/campaigns/{id}/pause", "POST", "/v1/campaigns/abc/pause"},
		{"post /v1/campaigns/{id}/resume", "POST", "/v1/campaigns/0/resume"},
		{"post /v1/campaigns/{id}/cancel", "POST", "/v1/campaigns/x/cancel"},
		{"get /v1/quota", "GET", "/v1/quota"},
		{"get /v1/quota/{app}", "GET", "/v1/quota/main"},
	} {
		req := httptest.NewRequest(tc.method, tc.target, nil)
		req.Header.Set("Authorization", "Bearer "+tokenA)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		code := strconv.Itoa(rec.Code)
		if rec.Code == http.StatusInternalServerError || !documented[tc.op][code] {
			t.Errorf("%s %s: status %s, which api/openapi.yaml does not list for %s (it lists %v); body %s",
				tc.method, tc.target, code, tc.op, documented[tc.op], rec.Body.String())
		}
	}
}
