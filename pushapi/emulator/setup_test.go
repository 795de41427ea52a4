package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/pushapi"
)

const (
	testKey    = "uwd1c0sxdlx2"
	testSecret = "Y1W2MeFwwwRxa0"
)

func mustLoc(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

var (
	shanghai = mustLoc("Asia/Shanghai")
	// t0 is the emulator's frozen time at the start of every test.
	t0 = time.Date(2026, 3, 10, 10, 20, 0, 0, shanghai)
)

// bundle is what a test needs: an emulator behind a real loopback server.
type bundle struct {
	em  *Emulator
	srv *httptest.Server
}

// setup starts an emulator for cfg (one app testKey/testSecret when cfg has
// none) with its clock frozen at t0.
func setup(t testing.TB, cfg Config, opts ...Option) *bundle {
	t.Helper()
	if cfg.Apps == nil {
		cfg.Apps = []AppConfig{{AppKey: testKey, Secret: testSecret}}
	}
	em, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	em.SetNow(t0)
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return &bundle{em: em, srv: srv}
}

// client returns the real pushapi client for an app of the emulator, signing
// with the emulator's clock.
func (b *bundle) client(t testing.TB, key, secret string) *pushapi.Client {
	t.Helper()
	return b.clientWith(t, pushapi.ClientConfig{AppKey: key, AppSecret: pushapi.NewSecret(secret)})
}

func (b *bundle) clientWith(t testing.TB, cfg pushapi.ClientConfig) *pushapi.Client {
	t.Helper()
	cfg.Hosts = []string{b.srv.URL}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = b.em.Now
	}
	c, err := pushapi.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// apiBody is any Server API answer.
type apiBody struct {
	Code         int                 `json:"code"`
	ErrorMessage string              `json:"errorMessage"`
	ID           string              `json:"id"`
	MessageUID   string              `json:"messageUID"`
	Result       map[string][]string `json:"result"`
}

// signed returns the signing headers for key/secret with the timestamp ts
// ("" means the emulator's now in seconds).
func (b *bundle) signed(key, secret, ts string) http.Header {
	if ts == "" {
		ts = strconv.FormatInt(b.em.Now().Unix(), 10)
	}
	const nonce = "14314"
	h := http.Header{}
	h.Set("App-Key", key)
	h.Set("Nonce", nonce)
	h.Set("Timestamp", ts)
	h.Set("Signature", pushapi.Sign(secret, nonce, ts))
	h.Set("Content-Type", "application/json")
	return h
}

// do sends a raw request (to reach the emulator with what the client would
// refuse to send) and decodes the answer.
func (b *bundle) do(t testing.TB, method, path, body string, h http.Header) (int, apiBody) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, b.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out apiBody
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer %d is not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// control calls the /_emulator/ API and decodes the JSON answer into out.
func (b *bundle) control(t testing.TB, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, b.srv.URL+ControlPrefix+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: answer %d: %v: %q", method, path, resp.StatusCode, err, raw)
		}
	}
	return resp.StatusCode
}

// tagPush is a valid push to users tagged 女 and 年轻, in 北京 or 上海.
func tagPush() *pushapi.Request {
	return &pushapi.Request{
		Platform:   []string{"ios", "android"},
		FromUserID: "fromuseId1",
		Audience:   pushapi.Audience{Tag: []string{"女", "年轻"}, TagOr: []string{"北京", "上海"}},
		Message:    &pushapi.Message{Content: `{"content":"1111","extra":"aa"}`, ObjectName: "RC:TxtMsg"},
		Notification: &pushapi.Notification{
			Title: "标题", Alert: "this is a push",
			IOS: &pushapi.IOSNotification{Alert: "override alert"},
		},
	}
}

// validBody is tagPush as JSON.
func validBody(t testing.TB) string {
	t.Helper()
	b, err := json.Marshal(tagPush())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// apiError returns err as a *pushapi.Error or fails the test.
func apiError(t testing.TB, err error) *pushapi.Error {
	t.Helper()
	var e *pushapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *pushapi.Error, got %T %v", err, err)
	}
	return e
}
