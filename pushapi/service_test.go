package pushapi

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"
)

// Test doubles shared by the client tests: a fake push service that verifies
// signatures and records every call, and a settable clock.

const (
	testAppKey = "uwd1c0sxdlx2"
	testSecret = "Y1W2MeFwwwRxa0"
)

// recorded is one call as the fake service saw it.
type recorded struct {
	Path        string
	ContentType string
	AppKey      string
	Nonce       string
	Timestamp   string
	RequestID   string
	UserAgent   string
	Body        string
	RemoteAddr  string
}

// fakeService answers like the push service. reply decides the answer of
// each call (default: success); every request is signature-checked first.
type fakeService struct {
	t       *testing.T
	srv     *httptest.Server
	secrets map[string]string // App-Key -> secret

	mu    sync.Mutex
	calls []recorded
	bad   []string // signature or header problems seen
	reply func(w http.ResponseWriter, r *http.Request, call recorded)
}

var (
	nonceRE     = regexp.MustCompile(`^[0-9]{1,19}$`)
	timestampRE = regexp.MustCompile(`^[0-9]{1,10}$`) // seconds, not milliseconds
)

func newFakeService(t *testing.T) *fakeService {
	t.Helper()
	return newFakeServiceWith(t, nil)
}

// newFakeServiceWith lets configure adjust the http.Server before it starts.
func newFakeServiceWith(t *testing.T, configure func(*http.Server)) *fakeService {
	t.Helper()
	f := &fakeService{t: t, secrets: map[string]string{testAppKey: testSecret}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	if configure != nil {
		configure(f.srv.Config)
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeService) URL() string { return f.srv.URL }

func (f *fakeService) setReply(reply func(w http.ResponseWriter, r *http.Request, call recorded)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = reply
}

func (f *fakeService) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	c := recorded{
		Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), AppKey: r.Header.Get("App-Key"),
		Nonce: r.Header.Get("Nonce"), Timestamp: r.Header.Get("Timestamp"), RequestID: r.Header.Get("X-Request-ID"),
		UserAgent: r.Header.Get("User-Agent"), Body: string(body), RemoteAddr: r.RemoteAddr,
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	reply := f.reply
	secret, known := f.secrets[c.AppKey]
	var problem string
	switch {
	case r.Method != http.MethodPost:
		problem = "method " + r.Method
	case !known:
		problem = "unknown App-Key " + c.AppKey
	case !nonceRE.MatchString(c.Nonce):
		problem = "bad nonce " + c.Nonce
	case !timestampRE.MatchString(c.Timestamp):
		problem = "timestamp not in seconds: " + c.Timestamp
	case r.Header.Get("Signature") != Sign(secret, c.Nonce, c.Timestamp):
		problem = "bad signature"
	case c.RequestID == "" || len(c.RequestID) > 36:
		problem = "bad X-Request-ID " + c.RequestID
	}
	if problem != "" {
		f.bad = append(f.bad, problem)
	}
	f.mu.Unlock()
	if problem != "" {
		writeJSON(w, http.StatusUnauthorized, `{"code":1004,"errorMessage":"signature error"}`)
		return
	}
	if reply == nil {
		replyOK(w, r, c)
		return
	}
	reply(w, r, c)
}

func replyOK(w http.ResponseWriter, r *http.Request, c recorded) {
	switch r.URL.Path {
	case PathPush:
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"code":200,"id":"push-%s","messageUID":"push-%s"}`, c.Nonce, c.Nonce))
	default:
		writeJSON(w, http.StatusOK, `{"code":200}`)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// replyStatus answers every call with status and body.
func replyStatus(status int, contentType, body string, header ...string) func(http.ResponseWriter, *http.Request, recorded) {
	return func(w http.ResponseWriter, _ *http.Request, _ recorded) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// replyStall reads the request (done by serve) and then never answers, until
// the client gives up and closes the connection.
func replyStall(w http.ResponseWriter, r *http.Request, _ recorded) {
	<-r.Context().Done()
}

// replyStallMidBody sends the status line, headers and half a JSON body, then
// stalls.
func replyStallMidBody(w http.ResponseWriter, r *http.Request, _ recorded) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"code":200,"id":"`)
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

// replyReset reads the request and drops the connection without answering.
func replyReset(w http.ResponseWriter, _ *http.Request, _ recorded) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func (f *fakeService) recorded() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bad) > 0 {
		f.t.Errorf("the fake service rejected requests: %v", f.bad)
	}
	return append([]recorded(nil), f.calls...)
}

func (f *fakeService) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// deadHost returns the base URL of a server that no longer listens: every
// connection is refused, before anything is written.
func deadHost(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	return url
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestClient returns a client on hosts with the fake clock.
func newTestClient(t *testing.T, clock *fakeClock, timeout time.Duration, hosts ...string) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{
		AppKey: testAppKey, AppSecret: NewSecret(testSecret), Hosts: hosts,
		Timeout: timeout, Now: clock.Now, UserAgent: "tagcast/test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
