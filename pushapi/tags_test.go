package pushapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSetUserTagsBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tags []string
		want string
	}{
		{"tags", []string{"女", "北京"}, `{"userId":"u1","tags":["女","北京"]}`},
		{"empty clears, sent as []", []string{}, `{"userId":"u1","tags":[]}`},
		{"nil clears, sent as [] never null", nil, `{"userId":"u1","tags":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newFakeService(t)
			c := newTestClient(t, newFakeClock(), 5*time.Second, svc.URL())
			if err := c.SetUserTags(context.Background(), "u1", tt.tags); err != nil {
				t.Fatal(err)
			}
			calls := svc.recorded()
			if len(calls) != 1 || calls[0].Path != PathSetUserTags || calls[0].ContentType != "application/json" {
				t.Fatalf("calls: %+v", calls)
			}
			if diff := cmp.Diff(tt.want, calls[0].Body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTagRequestsMarshalNilTagsAsEmpty(t *testing.T) {
	t.Parallel()
	a, _ := json.Marshal(SetUserTagsRequest{UserID: "u"})
	b, _ := json.Marshal(&BatchSetUserTagsRequest{UserIDs: []string{"u", "v"}})
	got := []string{string(a), string(b)}
	want := []string{`{"userId":"u","tags":[]}`, `{"userIds":["u","v"],"tags":[]}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestBatchSetUserTags(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t)
	c := newTestClient(t, newFakeClock(), 5*time.Second, svc.URL())
	if err := c.BatchSetUserTags(context.Background(), []string{"u1", "u2"}, nil); err != nil {
		t.Fatal(err)
	}
	calls := svc.recorded()
	if len(calls) != 1 || calls[0].Path != PathBatchSetTags {
		t.Fatalf("calls: %+v", calls)
	}
	if diff := cmp.Diff(`{"userIds":["u1","u2"],"tags":[]}`, calls[0].Body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestGetUserTags(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t)
	svc.setReply(replyStatus(200, "application/json", `{"code":200,"result":{"a":["女","t1"],"b":[],"c":null}}`))
	c := newTestClient(t, newFakeClock(), 5*time.Second, svc.URL())
	got, err := c.GetUserTags(context.Background(), []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"a": {"女", "t1"}, "b": {}, "c": {}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	calls := svc.recorded()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	wantCall := recorded{Path: PathGetUserTags, ContentType: "application/x-www-form-urlencoded", Body: "userIds=a&userIds=b&userIds=c"}
	gotCall := recorded{Path: calls[0].Path, ContentType: calls[0].ContentType, Body: calls[0].Body}
	if diff := cmp.Diff(wantCall, gotCall); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestTagCallsValidateBeforeSending(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t)
	c := newTestClient(t, newFakeClock(), 5*time.Second, svc.URL())
	ctx := context.Background()
	_, getErr := c.GetUserTags(ctx, ids(51))
	errs := map[string]error{
		"set":   c.SetUserTags(ctx, "u1", ids(21)),
		"batch": c.BatchSetUserTags(ctx, ids(1001), []string{"a"}),
		"get":   getErr,
	}
	wantPath := map[string]string{"set": "tags", "batch": "userIds", "get": "userIds"}
	for name, err := range errs {
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Problems[0].Path != wantPath[name] {
			t.Errorf("%s: want a validation error naming %s, got %v", name, wantPath[name], err)
		}
		if Classify(err) != OutcomeFailed {
			t.Errorf("%s: Classify = %s, want failed", name, Classify(err))
		}
	}
	if svc.callCount() != 0 {
		t.Error("an invalid tag request reached the service")
	}
}

func TestTagCallErrorsAreTyped(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t)
	svc.setReply(replyStatus(http.StatusTooManyRequests, "application/json", `{"code":1008,"errorMessage":"10 per second"}`))
	c := newTestClient(t, newFakeClock(), 5*time.Second, svc.URL())
	err := c.BatchSetUserTags(context.Background(), []string{"u1"}, []string{"a"})
	var e *Error
	if !errors.As(err, &e) || e.Path != PathBatchSetTags || e.Code != CodeRateLimited || Classify(err) != OutcomeRateLimited {
		t.Errorf("got %v", err)
	}
}
