package emulator

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/pushapi"
)

func TestResolveAudience(t *testing.T) {
	t.Parallel()
	users := map[string]*user{
		"amy":  {tags: []string{"女", "年轻", "北京"}, packageName: "com.shop"},
		"bea":  {tags: []string{"女", "年轻", "上海"}, packageName: "com.news"},
		"cat":  {tags: []string{"女", "北京"}, packageName: "com.shop"},
		"dan":  {tags: []string{"男", "年轻", "上海"}},
		"eve":  {tags: []string{"女", "年轻"}},
		"none": {},
	}
	tests := []struct {
		name string
		a    pushapi.Audience
		want []string
	}{
		{"tag is AND", pushapi.Audience{Tag: []string{"女", "年轻"}}, []string{"amy", "bea", "eve"}},
		{"tag_or is OR", pushapi.Audience{TagOr: []string{"北京", "上海"}}, []string{"amy", "bea", "cat", "dan"}},
		{"tag and tag_or must both hold", pushapi.Audience{Tag: []string{"女", "年轻"}, TagOr: []string{"北京", "上海"}}, []string{"amy", "bea"}},
		{"packageName is ANDed with tags", pushapi.Audience{Tag: []string{"女"}, PackageName: "com.shop"}, []string{"amy", "cat"}},
		{"packageName with tag_or", pushapi.Audience{TagOr: []string{"上海"}, PackageName: "com.news"}, []string{"bea"}},
		{"packageName alone", pushapi.Audience{PackageName: "com.shop"}, []string{"amy", "cat"}},
		{"userid wins over tags", pushapi.Audience{UserID: []string{"zed", "dan", "zed"}, Tag: []string{"女"}}, []string{"zed", "dan"}},
		{"is_to_all ignores everything else", pushapi.Audience{IsToAll: true, UserID: []string{"amy"}, Tag: []string{"男"}}, []string{"amy", "bea", "cat", "dan", "eve", "none"}},
		{"no match", pushapi.Audience{Tag: []string{"老"}}, []string{}},
		{"no condition selects nobody", pushapi.Audience{}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, resolveAudience(tt.a, users)); diff != "" {
				t.Errorf("recipients (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEffectiveNotifications(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  pushapi.Request
		want map[string]Notification
	}{
		{"platforms fall back to notification.alert", pushapi.Request{
			Platform:     []string{"ios", "android"},
			Notification: &pushapi.Notification{Title: "T", Alert: "hello"},
		}, map[string]Notification{"ios": {Title: "T", Alert: "hello"}, "android": {Title: "T", Alert: "hello"}}},
		{"own alerts override", pushapi.Request{
			Platform: []string{"ios", "android"},
			Notification: &pushapi.Notification{Title: "T", Alert: "hello",
				IOS: &pushapi.IOSNotification{Title: "iT", Alert: "hi iPhone"}, Android: &pushapi.AndroidNotification{Alert: "hi Android"}},
		}, map[string]Notification{"ios": {Title: "iT", Alert: "hi iPhone"}, "android": {Title: "T", Alert: "hi Android"}}},
		{"only iOS set: Android uses the alert", pushapi.Request{
			Platform:     []string{"ios", "android"},
			Notification: &pushapi.Notification{Alert: "base", IOS: &pushapi.IOSNotification{Alert: "ios only"}},
		}, map[string]Notification{"ios": {Alert: "ios only"}, "android": {Alert: "base"}}},
		{"only the request's platforms", pushapi.Request{
			Platform:     []string{"android"},
			Notification: &pushapi.Notification{Alert: "base", IOS: &pushapi.IOSNotification{Alert: "ios only"}},
		}, map[string]Notification{"android": {Alert: "base"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, effectiveNotifications(&tt.req)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Tags set through the client's tag APIs decide the recipients of a push.
func TestTagAPIsThenPushByTag(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	c := b.client(t, testKey, testSecret)
	ctx := context.Background()
	if err := c.SetUserTags(ctx, "amy", []string{"女", "年轻", "北京"}); err != nil {
		t.Fatal(err)
	}
	if err := c.BatchSetUserTags(ctx, []string{"bea", "cat"}, []string{"女", "年轻", "上海"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUserTags(ctx, "cat", []string{"女", "深圳"}); err != nil { // replaces cat's tags
		t.Fatal(err)
	}
	if err := c.SetUserTags(ctx, "dan", []string{"男"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUserTags(ctx, "dan", []string{}); err != nil { // [] clears
		t.Fatal(err)
	}
	got, err := c.GetUserTags(ctx, []string{"amy", "cat", "dan", "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"amy": {"女", "年轻", "北京"}, "cat": {"女", "深圳"}, "dan": {}, "nobody": {}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("GetUserTags (-want +got):\n%s", diff)
	}
	res, err := c.Push(ctx, tagPush())
	if err != nil {
		t.Fatal(err)
	}
	pushes := b.em.Pushes()
	if len(pushes) != 1 || pushes[0].MessageUID != res.MessageUID {
		t.Fatalf("pushes = %+v", pushes)
	}
	if diff := cmp.Diff([]string{"amy", "bea"}, pushes[0].Recipients); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
	if ctr := b.em.Counters(testKey); ctr.TagCalls != 6 || ctr.Accepted != 1 {
		t.Errorf("counters = %+v", ctr)
	}
}

func TestTagAPIRejections(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tooMany := make([]string, 21)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint("t", i)
	}
	manyIDs := make([]string, 51)
	for i := range manyIDs {
		manyIDs[i] = "userIds=" + fmt.Sprint("u", i)
	}
	tests := []struct {
		name, path, body string
		code             int
		inMessage        string
	}{
		{"set: tags null", pushapi.PathSetUserTags, `{"userId":"u1","tags":null}`, 1002, "tags: required (send [] to clear)"},
		{"set: tags missing", pushapi.PathSetUserTags, `{"userId":"u1"}`, 1002, "tags: required"},
		{"set: no userId", pushapi.PathSetUserTags, `{"tags":[]}`, 1002, "userId"},
		{"set: 21 tags", pushapi.PathSetUserTags, fmt.Sprintf(`{"userId":"u1","tags":["%s"]}`, strings.Join(tooMany, `","`)), 1002, "tags: at most 20"},
		{"set: 41-byte tag", pushapi.PathSetUserTags, fmt.Sprintf(`{"userId":"u1","tags":["%s"]}`, strings.Repeat("x", 41)), 1005, "tags[0]"},
		{"set: wrong type", pushapi.PathSetUserTags, `{"userId":"u1","tags":"bj"}`, 1002, "tags"},
		{"batch: no users", pushapi.PathBatchSetTags, `{"userIds":[],"tags":["a"]}`, 1002, "userIds"},
		{"get: 51 users", pushapi.PathGetUserTags, strings.Join(manyIDs, "&"), 1002, "userIds: at most 50"},
		{"get: no userIds", pushapi.PathGetUserTags, "other=1", 1002, "userIds: required"},
		{"get: empty body", pushapi.PathGetUserTags, "", 1003, "no POST data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := b.signed(testKey, testSecret, "")
			if tt.path == pushapi.PathGetUserTags { // a form body, sent as one
				h.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			status, body := b.do(t, http.MethodPost, tt.path, tt.body, h)
			if status != 400 || body.Code != tt.code || !strings.Contains(body.ErrorMessage, tt.inMessage) {
				t.Fatalf("got %d/%d %q, want 400/%d containing %q", status, body.Code, body.ErrorMessage, tt.code, tt.inMessage)
			}
		})
	}
	if n := len(b.em.Users(testKey)); n != 0 {
		t.Errorf("rejected calls created %d users", n)
	}
}

func TestBatchSetRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	c := b.client(t, testKey, testSecret)
	ctx := context.Background()
	for i := range BatchSetPerSecond {
		if err := c.BatchSetUserTags(ctx, []string{"u1"}, []string{"a"}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := c.BatchSetUserTags(ctx, []string{"u1"}, []string{"a"})
	if e := apiError(t, err); e.HTTPStatus != 429 || e.Code != pushapi.CodeRateLimited {
		t.Fatalf("11th call in one second: %d/%d, want 429/1008", e.HTTPStatus, e.Code)
	}
	b.em.Advance(time.Second)
	if err := c.BatchSetUserTags(ctx, []string{"u1"}, []string{"b"}); err != nil {
		t.Fatalf("a second later: %v", err)
	}
	// The rate limit is the batch endpoint's own: pushes are unaffected.
	if _, err := c.Push(ctx, tagPush()); err != nil {
		t.Fatalf("push: %v", err)
	}
}
