package admin_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/campaign"
)

// post sends POST /v1/campaigns with headers (name, value pairs).
func (b bundle) post(t *testing.T, contentType, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.url+"/v1/campaigns", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokenA)
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/campaigns: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// decodeCampaign reads a campaign answer.
func decodeCampaign(t *testing.T, r response) campaign.Campaign {
	t.Helper()
	var c campaign.Campaign
	if err := json.Unmarshal([]byte(r.body), &c); err != nil || c.ID == 0 {
		t.Fatalf("not a campaign (%v): %s", err, r)
	}
	return c
}

// decodeError reads an error answer.
func decodeError(t *testing.T, r response) admin.ErrorBody {
	t.Helper()
	var e admin.ErrorBody
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error == "" {
		t.Fatalf("not an error body (%v): %s", err, r)
	}
	return e
}

// campaignCount is the number of campaigns stored.
func (b bundle) campaignCount(t *testing.T) int {
	t.Helper()
	cs, _, err := b.store.List(b.ctx, campaign.ListFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// wantKeyReused checks a 422 naming the Idempotency-Key header.
func wantKeyReused(t *testing.T, what string, r response) {
	t.Helper()
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("%s: %s; want 422", what, r)
		return
	}
	e := decodeError(t, r)
	if len(e.Problems) != 1 || e.Problems[0].Path != "Idempotency-Key" || !strings.Contains(e.Problems[0].Rule, "reused with a different request") {
		t.Errorf("%s: problems %+v; want one on Idempotency-Key: reused with a different request", what, e.Problems)
	}
	if r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("%s: Idempotent-Replayed %q on a refusal", what, r.header.Get("Idempotent-Replayed"))
	}
}

// TestCreateIdempotencyKey guards POST /v1/campaigns retried after a lost
// answer: under the same Idempotency-Key and body it answers the campaign
// already created (200, Idempotent-Replayed: true), as it is now, even
// once the file would no longer validate; under the same key and another
// body (another file, the same file under another media type, another
// campaign's file) it is a 422 naming the header; nothing is created
// twice.
func TestCreateIdempotencyKey(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d.url(t))
			at := t0.Add(time.Hour)
			fileA, fileB := campaignYAML("winter-sale", at), campaignYAML("summer-sale", at)

			r := b.post(t, "application/yaml", fileA, "Idempotency-Key", "key-A")
			if r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("first create: %s, Idempotent-Replayed %q; want 201 without it", r, r.header.Get("Idempotent-Replayed"))
			}
			first := decodeCampaign(t, r)

			r = b.post(t, "application/yaml", fileA, "Idempotency-Key", "key-A")
			if r.status != http.StatusOK || r.header.Get("Idempotent-Replayed") != "true" || r.header.Get("Location") != fmt.Sprintf("/v1/campaigns/%d", first.ID) {
				t.Errorf("replay: %s, Idempotent-Replayed %q, Location %q; want 200, true, the campaign", r, r.header.Get("Idempotent-Replayed"), r.header.Get("Location"))
			}
			if got := decodeCampaign(t, r); got.ID != first.ID {
				t.Errorf("replay answered campaign %d, want %d", got.ID, first.ID)
			}
			// The same through the client.
			res, err := b.client.CreateCampaignWith(b.ctx, []byte(fileA), "application/yaml", admin.CreateOptions{IdempotencyKey: "key-A"})
			if err != nil || !res.Replayed || res.Campaign.ID != first.ID {
				t.Errorf("client replay = campaign %d, replayed %v, %v; want campaign %d replayed", res.Campaign.ID, res.Replayed, err, first.ID)
			}

			// Another body under the key: refused, whatever differs.
			wantKeyReused(t, "another file", b.post(t, "application/yaml", fileB, "Idempotency-Key", "key-A"))
			wantKeyReused(t, "the same file as application/json", b.post(t, "application/json", fileA, "Idempotency-Key", "key-A"))
			_, err = b.client.CreateCampaignWith(b.ctx, []byte(fileB), "application/yaml", admin.CreateOptions{IdempotencyKey: "key-A"})
			var ae *admin.APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || admin.OutcomeUnknown(err) {
				t.Errorf("client, another file = %v; want an *APIError 422, outcome known", err)
			}

			// A second campaign under its own key; then each key with the
			// other campaign's file.
			r = b.post(t, "application/yaml", fileB, "Idempotency-Key", "key-B")
			if r.status != http.StatusCreated {
				t.Fatalf("create under key-B: %s", r)
			}
			second := decodeCampaign(t, r)
			wantKeyReused(t, "key-A with key-B's file", b.post(t, "application/yaml", fileB, "Idempotency-Key", "key-A"))
			wantKeyReused(t, "key-B with key-A's file", b.post(t, "application/yaml", fileA, "Idempotency-Key", "key-B"))

			// Cancelled and past its `at` (the file no longer validates):
			// the replay still answers the campaign, as it is now.
			if _, err := b.client.CancelCampaign(b.ctx, first.ID); err != nil {
				t.Fatal(err)
			}
			b.clock.Advance(2 * time.Hour)
			if r := b.post(t, "application/yaml", fileA); r.status != http.StatusBadRequest {
				t.Fatalf("the file without a key, past its at: %s; want 400 (the replay below must not validate it)", r)
			}
			r = b.post(t, "application/yaml", fileA, "Idempotency-Key", "key-A")
			if got := decodeCampaign(t, r); r.status != http.StatusOK || got.ID != first.ID || got.Status != campaign.CampaignCancelled {
				t.Errorf("replay of a cancelled campaign: %s; want 200 with campaign %d cancelled", r, first.ID)
			}

			if n := b.campaignCount(t); n != 2 {
				t.Errorf("%d campaigns, want 2 (campaigns %d and %d)", n, first.ID, second.ID)
			}
		})
	}
}

// TestCreateWithoutIdempotencyKey pins the behaviour without the header:
// every create is a new campaign, as before.
func TestCreateWithoutIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	file := campaignYAML("twice", t0.Add(time.Hour))
	for range 2 {
		if r := b.post(t, "application/yaml", file); r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("create without a key: %s", r)
		}
	}
	if n := b.campaignCount(t); n != 2 {
		t.Errorf("%d campaigns, want 2", n)
	}
}

// TestIdempotencyKeyRule guards the header's rule: 1 to 255 characters of
// visible ASCII, given once; anything else is a 400 naming the header and
// the rule, and creates nothing.
func TestIdempotencyKeyRule(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite::memory:")
	file := campaignYAML("rule", t0.Add(time.Hour))
	for _, tc := range []struct {
		name    string
		headers []string
		rule    string
	}{
		{"empty", []string{"Idempotency-Key", ""}, "1 to 255 characters of visible ASCII"},
		{"256 characters", []string{"Idempotency-Key", strings.Repeat("k", 256)}, "got 256 bytes"},
		{"a space inside", []string{"Idempotency-Key", "two words"}, "0x20"},
		{"a tab inside", []string{"Idempotency-Key", "two\twords"}, "0x09"},
		{"non-ASCII", []string{"Idempotency-Key", "ключ"}, "visible ASCII"},
		{"twice", []string{"Idempotency-Key", "a", "Idempotency-Key", "b"}, "must be given once"},
	} {
		r := b.post(t, "application/yaml", file, tc.headers...)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: %s; want 400", tc.name, r)
			continue
		}
		e := decodeError(t, r)
		if !strings.Contains(e.Error, "Idempotency-Key") || len(e.Problems) != 1 || e.Problems[0].Path != "Idempotency-Key" || !strings.Contains(e.Problems[0].Rule, tc.rule) {
			t.Errorf("%s: %s; want a problem on Idempotency-Key with %q", tc.name, r, tc.rule)
		}
	}
	if n := b.campaignCount(t); n != 0 {
		t.Errorf("%d campaigns created by refused requests", n)
	}
	for i, key := range []string{"!", strings.Repeat("~", 255), "550e8400-e29b-41d4-a716-446655440000", `!"#$%&'()*+,-./:;<=>?@[\]^_{|}~`} {
		if r := b.post(t, "application/yaml", campaignYAML(fmt.Sprintf("ok-%d", i), t0.Add(time.Hour)), "Idempotency-Key", key); r.status != http.StatusCreated {
			t.Errorf("key %q: %s; want 201", key, r)
		}
	}
}

// TestCreateIdempotencyKeyConcurrent guards a retry that overlaps the
// first attempt (the client timed out while the server was creating):
// many creates under one key at once make one campaign; one answer is 201,
// the others replay it.
func TestCreateIdempotencyKeyConcurrent(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d.url(t))
			file := []byte(campaignYAML("concurrent", t0.Add(time.Hour)))
			const n = 12
			results := make([]admin.Created, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					results[i], errs[i] = b.client.CreateCampaignWith(b.ctx, file, "application/yaml", admin.CreateOptions{IdempotencyKey: "concurrent-1"})
				})
			}
			close(start)
			wg.Wait()
			created := 0
			for i := range n {
				if errs[i] != nil {
					t.Errorf("create %d: %v", i, errs[i])
					continue
				}
				if !results[i].Replayed {
					created++
				}
				if results[i].Campaign.ID != results[0].Campaign.ID {
					t.Errorf("create %d answered campaign %d, create 0 campaign %d", i, results[i].Campaign.ID, results[0].Campaign.ID)
				}
			}
			if created != 1 || b.campaignCount(t) != 1 {
				t.Errorf("%d answers created, %d campaigns stored; want 1 and 1", created, b.campaignCount(t))
			}
		})
	}
}

// TestCreateStatusesAreDocumented checks that api/openapi.yaml lists what
// POST /v1/campaigns answers with a key: 201, 200 (replay), 400 (bad key)
// and 422 (key reused).
func TestCreateStatusesAreDocumented(t *testing.T) {
	t.Parallel()
	got := documentedStatuses(t)["post /v1/campaigns"]
	for _, code := range []string{"200", "201", "400", "422"} {
		if !got[code] {
			t.Errorf("api/openapi.yaml does not list %s for POST /v1/campaigns (it lists %v)", code, got)
		}
	}
}
