package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/pushapi"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: Quota{Hourly: 100, Daily: 100}}}})
	now := b.em.Now()
	secs := strconv.FormatInt(now.Unix(), 10)
	millis := strconv.FormatInt(now.UnixMilli(), 10)
	stale := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	tests := []struct {
		name     string
		header   func() http.Header
		status   int
		code     int
		inMesage string
	}{
		{"seconds timestamp", func() http.Header { return b.signed(testKey, testSecret, secs) }, 200, 200, ""},
		{"milliseconds timestamp", func() http.Header { return b.signed(testKey, testSecret, millis) }, 200, 200, ""},
		{"RC- prefixed headers", func() http.Header {
			h := http.Header{}
			for k, v := range b.signed(testKey, testSecret, secs) {
				if k != "Content-Type" {
					k = "Rc-" + k
				}
				h[k] = v
			}
			return h
		}, 200, 200, ""},
		{"4m59s old is fresh", func() http.Header {
			return b.signed(testKey, testSecret, strconv.FormatInt(now.Add(-4*time.Minute-59*time.Second).Unix(), 10))
		}, 200, 200, ""},
		{"missing App-Key", func() http.Header { h := b.signed(testKey, testSecret, secs); h.Del("App-Key"); return h }, 401, 1001, "App-Key: missing"},
		{"unknown App-Key", func() http.Header { return b.signed("nobody", testSecret, secs) }, 401, 1001, `unknown app key "nobody"`},
		{"missing Nonce", func() http.Header { h := b.signed(testKey, testSecret, secs); h.Del("Nonce"); return h }, 401, 1004, "Nonce: missing"},
		{"missing Signature", func() http.Header { h := b.signed(testKey, testSecret, secs); h.Del("Signature"); return h }, 401, 1004, "Signature: missing"},
		{"wrong secret", func() http.Header { return b.signed(testKey, "wrong", secs) }, 401, 1004, "Signature: does not match"},
		{"signature over another timestamp", func() http.Header {
			h := b.signed(testKey, testSecret, secs)
			h.Set("Timestamp", millis)
			return h
		}, 401, 1004, "Signature"},
		{"stale seconds", func() http.Header { return b.signed(testKey, testSecret, stale) }, 401, 1004, "Timestamp:"},
		{"stale milliseconds", func() http.Header {
			return b.signed(testKey, testSecret, strconv.FormatInt(now.Add(-6*time.Minute).UnixMilli(), 10))
		}, 401, 1004, "freshness window of 5m0s"},
		{"from the future", func() http.Header {
			return b.signed(testKey, testSecret, strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10))
		}, 401, 1004, "Timestamp:"},
		{"timestamp not a number", func() http.Header { return b.signed(testKey, testSecret, "yesterday") }, 401, 1004, "Timestamp: want Unix seconds or milliseconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := b.do(t, http.MethodPost, pushapi.PathPush, validBody(t), tt.header())
			if status != tt.status || body.Code != tt.code {
				t.Fatalf("got %d/%d %q, want %d/%d", status, body.Code, body.ErrorMessage, tt.status, tt.code)
			}
			if !strings.Contains(body.ErrorMessage, tt.inMesage) {
				t.Errorf("errorMessage %q does not contain %q", body.ErrorMessage, tt.inMesage)
			}
			if strings.Contains(body.ErrorMessage, testSecret) {
				t.Errorf("errorMessage leaks the secret: %q", body.ErrorMessage)
			}
		})
	}
	if got := b.em.Counters(testKey); got.Accepted != 4 || got.Unauthorized != 8 {
		t.Errorf("counters = %+v, want 4 accepted and 8 unauthorized", got)
	}
	if got := b.em.Counters(""); got.Unauthorized != 2 {
		t.Errorf("unknown-key counters = %+v, want 2 unauthorized", got)
	}
}

func TestAuthFreshnessConfigurable(t *testing.T) {
	t.Parallel()
	old := strconv.FormatInt(t0.Add(-time.Hour).Unix(), 10)
	for _, tt := range []struct {
		freshness Duration
		status    int
	}{
		{Duration(2 * time.Hour), 200},
		{Duration(30 * time.Minute), 401},
		{-1, 200}, // disabled
	} {
		t.Run(time.Duration(tt.freshness).String(), func(t *testing.T) {
			b := setup(t, Config{Freshness: tt.freshness})
			status, body := b.do(t, http.MethodPost, pushapi.PathPush, validBody(t), b.signed(testKey, testSecret, old))
			if status != tt.status {
				t.Fatalf("status %d (%q), want %d", status, body.ErrorMessage, tt.status)
			}
		})
	}
}

func TestAuthThroughClient(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	for _, tt := range []struct {
		name, key, secret string
		code              int
	}{
		{"wrong secret", testKey, "not-the-secret", pushapi.CodeSignature},
		{"unknown key", "nobody", testSecret, pushapi.CodeAppKeyMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.client(t, tt.key, tt.secret).Push(context.Background(), tagPush())
			e := apiError(t, err)
			if e.HTTPStatus != http.StatusUnauthorized || e.Code != tt.code {
				t.Fatalf("got %d/%d, want 401/%d", e.HTTPStatus, e.Code, tt.code)
			}
			if got := pushapi.Classify(err); got != pushapi.OutcomeFailed {
				t.Errorf("Classify = %s, want failed", got)
			}
		})
	}
	t.Run("stale client clock", func(t *testing.T) {
		c := b.clientWith(t, pushapi.ClientConfig{AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret), Now: func() time.Time { return t0.Add(-10 * time.Minute) }})
		e := apiError(t, func() error { _, err := c.Push(context.Background(), tagPush()); return err }())
		if e.HTTPStatus != 401 || e.Code != pushapi.CodeSignature || !strings.Contains(e.Message, "Timestamp") {
			t.Fatalf("got %d/%d %q, want 401/1004 naming Timestamp", e.HTTPStatus, e.Code, e.Message)
		}
	})
}

func TestPushRejections(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprint("u", i)
	}
	tooMany := tagPush()
	tooMany.Audience = pushapi.Audience{UserID: many}
	longFrom := tagPush()
	longFrom.FromUserID = strings.Repeat("x", 65)
	noNotification := tagPush()
	noNotification.Notification = nil
	tests := []struct {
		name, method, body string
		status, code       int
		inMessage          []string
	}{
		{"GET", http.MethodGet, "", 405, 405, []string{"use POST"}},
		{"PUT", http.MethodPut, validBody(t), 405, 405, []string{"use POST"}},
		{"empty body", http.MethodPost, "", 400, 1003, []string{"no POST data"}},
		{"blank body", http.MethodPost, " \n", 400, 1003, []string{"no POST data"}},
		{"not JSON", http.MethodPost, "{platform", 400, 1002, []string{"body: invalid JSON"}},
		{"wrong type", http.MethodPost, `{"platform":["ios"],"audience":{"userid":"u1"}}`, 400, 1002, []string{"audience.userid"}},
		{"1001 user ids", http.MethodPost, jsonOf(t, tooMany), 400, 1002, []string{"audience.userid", "1000"}},
		{"fromuserid too long", http.MethodPost, jsonOf(t, longFrom), 400, 1005, []string{"fromuserid"}},
		{"no notification", http.MethodPost, jsonOf(t, noNotification), 400, 1002, []string{"notification"}},
		{"several problems", http.MethodPost, `{"platform":["web"],"fromuserid":"","audience":{"is_to_all":false}}`, 400, 1002,
			[]string{"platform[0]", "audience", "notification"}},
		// push-by-tag.txt marks fromuserid, message.content and
		// message.objectName required.
		{"no fromuserid and no message", http.MethodPost, `{"platform":["ios"],"audience":{"tag":["a"],"is_to_all":false},"notification":{"alert":"x"}}`,
			400, 1002, []string{"fromuserid", "message"}},
		// A misspelt field is refused, as pushapi.DecodeRequest does, not
		// dropped: without tag_or the push would reach everyone tagged "a".
		{"unknown field", http.MethodPost, `{"platform":["ios"],"fromuserid":"s","audience":{"tag":["a"],"tagOr":["b"],"is_to_all":false},` +
			`"message":{"content":"{\"content\":\"x\"}","objectName":"RC:TxtMsg"},"notification":{"alert":"x"}}`,
			400, 1002, []string{"audience.tagOr", "tag_or"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := b.do(t, tt.method, pushapi.PathPush, tt.body, b.signed(testKey, testSecret, ""))
			if status != tt.status || body.Code != tt.code {
				t.Fatalf("got %d/%d %q, want %d/%d", status, body.Code, body.ErrorMessage, tt.status, tt.code)
			}
			for _, s := range tt.inMessage {
				if !strings.Contains(body.ErrorMessage, s) {
					t.Errorf("errorMessage %q does not name %q", body.ErrorMessage, s)
				}
			}
		})
	}
	if got, want := b.em.Counters(testKey), (Counters{BadRequest: 10, NotAllowed: 2}); got != want {
		t.Errorf("counters: %s", cmp.Diff(want, got))
	}
	if len(b.em.Pushes()) != 0 {
		t.Errorf("rejected pushes were recorded: %+v", b.em.Pushes())
	}
	if qs, err := b.em.QuotaState(testKey); err != nil || qs.UsedHour != 0 {
		t.Errorf("rejected pushes used quota: %+v, %v", qs, err)
	}
}

func TestTooLargeBody(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	status, body := b.do(t, http.MethodPost, pushapi.PathPush, strings.Repeat(" ", maxBodyBytes+1), b.signed(testKey, testSecret, ""))
	if status != 400 || body.Code != pushapi.CodeTooLong || !strings.Contains(body.ErrorMessage, "body") {
		t.Fatalf("got %d/%d %q, want 400/1005 naming the body", status, body.Code, body.ErrorMessage)
	}
}

func jsonOf(t testing.TB, r *pushapi.Request) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var uidFormat = regexp.MustCompile(`^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$`)

func TestPushAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: Quota{Hourly: 100, Daily: 100}}}})
	c := b.client(t, testKey, testSecret)
	seen := map[string]bool{}
	for i := range 20 {
		res, err := c.Push(context.Background(), tagPush())
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		if res.ID != res.MessageUID || !uidFormat.MatchString(res.MessageUID) {
			t.Fatalf("push %d: id %q messageUID %q, want equal, XXXX-XXXX-XXXX-XXXX", i, res.ID, res.MessageUID)
		}
		if seen[res.MessageUID] {
			t.Fatalf("push %d: messageUID %q repeated", i, res.MessageUID)
		}
		seen[res.MessageUID] = true
	}
	pushes := b.em.Pushes()
	if len(pushes) != 20 {
		t.Fatalf("recorded %d pushes, want 20", len(pushes))
	}
	p := pushes[0]
	if !seen[p.MessageUID] || p.AppKey != testKey || !p.ReceivedAt.Equal(t0) || p.Answer != "ok" || p.RequestID == "" {
		t.Errorf("recorded push = %+v", p)
	}
	if diff := cmp.Diff(tagPush(), &p.Request); diff != "" {
		t.Errorf("recorded request differs (-sent +recorded):\n%s", diff)
	}
	want := map[string]Notification{
		"ios":     {Title: "标题", Alert: "override alert"},
		"android": {Title: "标题", Alert: "this is a push"},
	}
	if diff := cmp.Diff(want, p.Notifications); diff != "" {
		t.Errorf("effective notifications (-want +got):\n%s", diff)
	}
	if got := b.em.Counters(testKey).Accepted; got != 20 {
		t.Errorf("accepted = %d, want 20", got)
	}
}

func TestMaxPushesKeepsTheNewest(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxPushes: 3, Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: Quota{Hourly: 10, Daily: 10}}}})
	c := b.client(t, testKey, testSecret)
	for range 5 {
		if _, err := c.Push(context.Background(), tagPush()); err != nil {
			t.Fatal(err)
		}
	}
	var seqs []uint64
	for _, p := range b.em.Pushes() {
		seqs = append(seqs, p.Seq)
	}
	if diff := cmp.Diff([]uint64{3, 4, 5}, seqs); diff != "" {
		t.Errorf("kept pushes (-want +got):\n%s", diff)
	}
}

func TestNotEnabled(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, PushDisabled: true}}})
	c := b.client(t, testKey, testSecret)
	type result struct {
		Status, Code int
		Outcome      pushapi.Outcome
	}
	var got []result
	for range 4 {
		_, err := c.Push(context.Background(), tagPush())
		e := apiError(t, err)
		got = append(got, result{e.HTTPStatus, e.Code, pushapi.Classify(err)})
	}
	want := []result{
		{430, pushapi.CodeNotEnabled, pushapi.OutcomeFailed},
		{430, pushapi.CodeNotEnabled, pushapi.OutcomeFailed},
		{429, pushapi.CodeRateLimited, pushapi.OutcomeRateLimited},
		{429, pushapi.CodeRateLimited, pushapi.OutcomeRateLimited},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("answers (-want +got):\n%s", diff)
	}
	// An hour later the not-enabled ledger has room for one more (3 a day).
	b.em.Advance(time.Hour)
	_, err := c.Push(context.Background(), tagPush())
	if e := apiError(t, err); e.HTTPStatus != 430 {
		t.Fatalf("an hour later: %d/%d, want 430/1009", e.HTTPStatus, e.Code)
	}
	if ctr := b.em.Counters(testKey); ctr.NotEnabled != 3 || ctr.RateLimited != 2 || ctr.Accepted != 0 {
		t.Errorf("counters = %+v", ctr)
	}
	// Enabling the app starts with its full quota.
	if err := b.em.UpdateApp(testKey, AppPatch{PushDisabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := c.Push(context.Background(), tagPush()); err != nil {
			t.Fatalf("push %d after enabling: %v", i, err)
		}
	}
}

// Many concurrent clients never get more than the quota accepted.
func TestQuotaExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	c := b.client(t, testKey, testSecret)
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		accepted, denied int
	)
	for range 20 {
		wg.Go(func() {
			_, err := c.Push(context.Background(), tagPush())
			mu.Lock()
			defer mu.Unlock()
			switch pushapi.Classify(err) {
			case pushapi.OutcomeSent:
				accepted++
			case pushapi.OutcomeRateLimited:
				denied++
			default:
				t.Errorf("unexpected %v", err)
			}
		})
	}
	wg.Wait()
	if accepted != 2 || denied != 18 {
		t.Fatalf("accepted %d, rate limited %d; want 2 and 18", accepted, denied)
	}
	if ctr := b.em.Counters(testKey); ctr.Accepted != 2 || ctr.RateLimited != 18 {
		t.Errorf("counters = %+v", ctr)
	}
}

func TestUnknownPath(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	status, body := b.do(t, http.MethodPost, "/message/broadcast.json", "{}", b.signed(testKey, testSecret, ""))
	if status != 404 || !strings.Contains(body.ErrorMessage, "/message/broadcast.json") {
		t.Fatalf("got %d %q", status, body.ErrorMessage)
	}
}
