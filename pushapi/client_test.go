package pushapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPushOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		reply         func(http.ResponseWriter, *http.Request, recorded)
		want          Outcome
		wantStatus    int
		wantCode      int
		wantReached   bool
		wantNotSent   bool
		wantMsgSubstr string
	}{
		{name: "200 sent", want: OutcomeSent},
		{name: "1000 retry", reply: replyStatus(500, "application/json", `{"code":1000,"errorMessage":"internal error"}`),
			want: OutcomeRetry, wantStatus: 500, wantCode: 1000, wantReached: true, wantMsgSubstr: "internal error"},
		{name: "1050 retry", reply: replyStatus(504, "application/json", `{"code":1050,"errorMessage":"timeout"}`),
			want: OutcomeRetry, wantStatus: 504, wantCode: 1050, wantReached: true},
		{name: "5xx HTML page retry", reply: replyStatus(502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"),
			want: OutcomeRetry, wantStatus: 502, wantReached: true, wantMsgSubstr: `non-JSON response body (HTTP 502, Content-Type "text/html"): <html><body><h1>502 Bad Gateway`},
		{name: "429 rate limited", reply: replyStatus(429, "application/json", `{"code":1008,"errorMessage":"too many requests"}`),
			want: OutcomeRateLimited, wantStatus: 429, wantCode: 1008},
		{name: "429 without body rate limited", reply: replyStatus(429, "text/plain", ""),
			want: OutcomeRateLimited, wantStatus: 429, wantMsgSubstr: "(empty)"},
		{name: "1002 failed", reply: replyStatus(400, "application/json", `{"code":1002,"errorMessage":"audience is required"}`),
			want: OutcomeFailed, wantStatus: 400, wantCode: 1002, wantNotSent: true, wantMsgSubstr: "audience is required"},
		{name: "1004 failed", reply: replyStatus(401, "application/json", `{"code":1004,"errorMessage":"signature error"}`),
			want: OutcomeFailed, wantStatus: 401, wantCode: 1004, wantNotSent: true},
		{name: "430 / 1009 failed, not success, not retry", reply: replyStatus(430, "application/json", `{"code":1009,"errorMessage":"not enabled"}`),
			want: OutcomeFailed, wantStatus: 430, wantCode: 1009, wantNotSent: true},
		{name: "430 without body failed", reply: replyStatus(430, "text/plain", "not enabled"),
			want: OutcomeFailed, wantStatus: 430, wantNotSent: true},
		{name: "404 HTML failed", reply: replyStatus(404, "text/html", "<h1>Not Found</h1>"),
			want: OutcomeFailed, wantStatus: 404, wantNotSent: true},
		{name: "redirect not followed", reply: replyStatus(302, "text/html", "moved", "Location", "/elsewhere"),
			want: OutcomeFailed, wantStatus: 302},
		{name: "200 with error code failed", reply: replyStatus(200, "application/json", `{"code":1002,"errorMessage":"bad"}`),
			want: OutcomeFailed, wantStatus: 200, wantCode: 1002, wantNotSent: true},
		{name: "200 HTML unknown", reply: replyStatus(200, "text/html", "<html>ok</html>"),
			want: OutcomeUnknown, wantStatus: 200, wantReached: true},
		{name: "reset after the request was read: unknown", reply: replyReset,
			want: OutcomeUnknown, wantReached: true, wantMsgSubstr: "no answer after the request was sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newFakeService(t)
			svc.setReply(tt.reply)
			c := newTestClient(t, newFakeClock(), 5*time.Second, svc.URL())
			resp, err := c.Push(context.Background(), validRequest())
			if got := Classify(err); got != tt.want {
				t.Fatalf("Classify = %s, want %s (err: %v)", got, tt.want, err)
			}
			calls := svc.recorded()
			if len(calls) != 1 {
				t.Fatalf("service saw %d calls, want 1 (single host: no retry)", len(calls))
			}
			if tt.want == OutcomeSent {
				want := &PushResponse{ID: "push-" + calls[0].Nonce, MessageUID: "push-" + calls[0].Nonce, Host: svc.URL(), RequestID: calls[0].RequestID}
				if diff := cmp.Diff(want, resp); diff != "" {
					t.Errorf("response (-want +got):\n%s", diff)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			got := struct {
				Status, Code     int
				Reached, NotSent bool
				Host, ID, Path   string
			}{e.HTTPStatus, e.Code, e.MayHaveReached, e.NotSent(), e.Host, e.RequestID, e.Path}
			want := struct {
				Status, Code     int
				Reached, NotSent bool
				Host, ID, Path   string
			}{tt.wantStatus, tt.wantCode, tt.wantReached, tt.wantNotSent, svc.URL(), calls[0].RequestID, PathPush}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("error fields (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), tt.wantMsgSubstr) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsgSubstr)
			}
		})
	}
}

func TestPushRetryAfter(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"120", 2 * time.Minute},
		{clock.Now().Add(30 * time.Minute).Format(http.TimeFormat), 30 * time.Minute},
		{"", 0},
	}
	for _, tt := range tests {
		svc := newFakeService(t)
		svc.setReply(replyStatus(429, "application/json", `{"code":1008,"errorMessage":"limit"}`, "Retry-After", tt.header))
		c := newTestClient(t, clock, 5*time.Second, svc.URL())
		_, err := c.Push(context.Background(), validRequest())
		var e *Error
		if !errors.As(err, &e) || e.RetryAfter != tt.want {
			t.Errorf("Retry-After %q: got %+v, want RetryAfter %s", tt.header, e, tt.want)
		}
	}
}

func TestPushNetworkErrorBeforeWriteIsRetry(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, newFakeClock(), 5*time.Second, deadHost(t))
	_, err := c.Push(context.Background(), validRequest())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not *Error", err, err)
	}
	if Classify(err) != OutcomeRetry || e.MayHaveReached || e.HTTPStatus != 0 {
		t.Errorf("refused connection: outcome %s, MayHaveReached %v, status %d; want retry, false, 0 (%v)",
			Classify(err), e.MayHaveReached, e.HTTPStatus, err)
	}
}

// The server reads the whole request, then never answers: the call must
// return by its deadline, classed unknown (the push may have gone out).
func TestPushStallAfterRequestReturnsByDeadline(t *testing.T) {
	t.Parallel()
	for name, reply := range map[string]func(http.ResponseWriter, *http.Request, recorded){
		"no answer":      replyStall,
		"half an answer": replyStallMidBody,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc := newFakeService(t)
			svc.setReply(reply)
			const timeout = 300 * time.Millisecond
			c := newTestClient(t, newFakeClock(), timeout, svc.URL())
			start := time.Now()
			_, err := c.Push(context.Background(), validRequest())
			elapsed := time.Since(start)
			if Classify(err) != OutcomeUnknown {
				t.Fatalf("Classify = %s, want unknown (err: %v)", Classify(err), err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
			}
			// Generous bound: the point is that the call does not hang.
			if elapsed > 10*timeout {
				t.Errorf("call took %s with a %s deadline", elapsed, timeout)
			}
			var e *Error
			if errors.As(err, &e) && !e.MayHaveReached {
				t.Error("MayHaveReached = false after the request was written")
			}
		})
	}
}

func TestPushCallerCancellation(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t)
	svc.setReply(replyStall)
	backup := newFakeService(t)
	c := newTestClient(t, newFakeClock(), 5*time.Second, svc.URL(), backup.URL())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for svc.callCount() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.Push(ctx, validRequest())
	if !errors.Is(err, context.Canceled) || Classify(err) != OutcomeUnknown {
		t.Errorf("cancelled after write: err %v, outcome %s; want context.Canceled, unknown", err, Classify(err))
	}
	if c.ActiveHost() != svc.URL() {
		t.Error("the caller's own cancellation must not fail the host over")
	}
	if backup.callCount() != 0 {
		t.Error("no fail-over hop after the request was written")
	}
}

func TestPushGoldenBody(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t)
	clock := newFakeClock()
	c := newTestClient(t, clock, 5*time.Second, svc.URL())
	if _, err := c.Push(context.Background(), exampleRequest(t)); err != nil {
		t.Fatal(err)
	}
	calls := svc.recorded()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	got := calls[0]
	if diff := cmp.Diff(jsonValue(t, loadExample(t)), jsonValue(t, []byte(got.Body))); diff != "" {
		t.Errorf("body sent differs from push-by-tag.txt (-doc +sent):\n%s", diff)
	}
	if got.Path != "/push.json" || got.ContentType != "application/json" || got.AppKey != testAppKey ||
		got.UserAgent != "tagcast/test" || got.Timestamp != "1796115600" {
		t.Errorf("headers: %+v", got)
	}
}

func TestPushInvalidRequestNeverSent(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t)
	c := newTestClient(t, newFakeClock(), 5*time.Second, svc.URL())
	r := validRequest()
	r.Audience.UserID = ids(1001)
	_, err := c.Push(context.Background(), r)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Problems[0].Path != "audience.userid" {
		t.Fatalf("want a validation error naming audience.userid, got %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || !e.NotSent() || Classify(err) != OutcomeFailed {
		t.Errorf("invalid request: want *Error, NotSent, failed; got %v", err)
	}
	if svc.callCount() != 0 {
		t.Error("an invalid request reached the service")
	}
}

func TestFailoverAndStickiness(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(503, "text/html", "<html>Service Unavailable</html>"))
	clock := newFakeClock()
	c := newTestClient(t, clock, 5*time.Second, primary.URL(), backup.URL())
	ctx := context.Background()

	resp, err := c.Push(ctx, validRequest())
	if err != nil {
		t.Fatalf("push with a failing primary: %v", err)
	}
	if resp.Host != backup.URL() {
		t.Errorf("answered by %s, want the backup", resp.Host)
	}
	p, b := primary.recorded(), backup.recorded()
	if len(p) != 1 || len(b) != 1 {
		t.Fatalf("calls: primary %d, backup %d; want 1 and 1", len(p), len(b))
	}
	if p[0].RequestID != b[0].RequestID || p[0].RequestID != resp.RequestID {
		t.Errorf("X-Request-ID differs across the fail-over: %q, %q", p[0].RequestID, b[0].RequestID)
	}
	if p[0].Nonce == b[0].Nonce {
		t.Error("each attempt must be signed with a fresh nonce")
	}

	// Sticky: the service advises to keep using the host that works, so the
	// client stays on the backup however long it has been, even once the
	// primary has recovered...
	primary.setReply(nil) // the primary has recovered, but the client does not know
	clock.Advance(24 * time.Hour)
	if _, err := c.Push(ctx, validRequest()); err != nil {
		t.Fatal(err)
	}
	if primary.callCount() != 1 || backup.callCount() != 2 {
		t.Errorf("a day later: primary %d, backup %d calls; want 1 and 2", primary.callCount(), backup.callCount())
	}
	if c.ActiveHost() != backup.URL() {
		t.Errorf("active host %s, want the backup, which works", c.ActiveHost())
	}
	// ...until the backup fails in turn: then back to the primary, and stay.
	backup.setReply(replyStatus(503, "text/html", "<html>Service Unavailable</html>"))
	if _, err := c.Push(ctx, validRequest()); err != nil {
		t.Fatal(err)
	}
	backup.setReply(nil)
	if _, err := c.Push(ctx, validRequest()); err != nil {
		t.Fatal(err)
	}
	if primary.callCount() != 3 || backup.callCount() != 3 {
		t.Errorf("after the backup failed: primary %d, backup %d calls; want 3 and 3", primary.callCount(), backup.callCount())
	}
}

func TestFailoverOnRefusedConnection(t *testing.T) {
	t.Parallel()
	backup := newFakeService(t)
	c := newTestClient(t, newFakeClock(), 5*time.Second, deadHost(t), backup.URL())
	resp, err := c.Push(context.Background(), validRequest())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Host != backup.URL() || c.ActiveHost() != backup.URL() {
		t.Errorf("host %s, active %s; want the backup for both", resp.Host, c.ActiveHost())
	}
}

func TestNoFailoverHopAfterTheRequestWasWritten(t *testing.T) {
	t.Parallel()
	for name, reply := range map[string]func(http.ResponseWriter, *http.Request, recorded){
		"timeout":             replyStall,
		"timeout in the body": replyStallMidBody,
		"reset":               replyReset,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			primary, backup := newFakeService(t), newFakeService(t)
			primary.setReply(reply)
			c := newTestClient(t, newFakeClock(), 300*time.Millisecond, primary.URL(), backup.URL())
			_, err := c.Push(context.Background(), validRequest())
			if Classify(err) != OutcomeUnknown {
				t.Fatalf("Classify = %s, want unknown (%v)", Classify(err), err)
			}
			if backup.callCount() != 0 {
				t.Error("a written request was sent again to the backup: possible duplicate push")
			}
			// The failure still moves later calls to the backup, as the service advises.
			if _, err := c.Push(context.Background(), validRequest()); err != nil {
				t.Fatal(err)
			}
			if backup.callCount() != 1 || primary.callCount() != 1 {
				t.Errorf("the next call went to the primary again")
			}
		})
	}
}

func TestNoFailoverOnRefusal(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(429, "application/json", `{"code":1008,"errorMessage":"limit"}`))
	c := newTestClient(t, newFakeClock(), 5*time.Second, primary.URL(), backup.URL())
	_, err := c.Push(context.Background(), validRequest())
	if Classify(err) != OutcomeRateLimited {
		t.Fatalf("Classify = %s (%v)", Classify(err), err)
	}
	if backup.callCount() != 0 || c.ActiveHost() != primary.URL() {
		t.Error("a 4xx answer must neither hop nor switch hosts")
	}
}

func TestFailoverBothHostsFail(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(503, "text/html", "<html>Service Unavailable</html>"))
	backup.setReply(replyStatus(400, "application/json", `{"code":1002,"errorMessage":"bad"}`))
	c := newTestClient(t, newFakeClock(), 5*time.Second, primary.URL(), backup.URL())
	_, err := c.Push(context.Background(), validRequest())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	// The last answer classifies; the 503 was not acted on (HTTP's "unable
	// to handle the request") and the backup refused: nothing was sent, and
	// the quota reservation goes back.
	if Classify(err) != OutcomeFailed || e.Attempts != 2 || e.Host != backup.URL() || e.MayHaveReached || !e.NotSent() {
		t.Errorf("got outcome %s attempts %d host %s reached %v notSent %v", Classify(err), e.Attempts, e.Host, e.MayHaveReached, e.NotSent())
	}
	if primary.callCount()+backup.callCount() != 2 {
		t.Error("the client must not retry beyond one fail-over hop")
	}
}

func TestConcurrentCallsFailOverOnce(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(503, "text/html", "down"))
	c := newTestClient(t, newFakeClock(), 5*time.Second, primary.URL(), backup.URL())
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := c.Push(context.Background(), validRequest())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("push: %v", err)
		}
	}
	if c.ActiveHost() != backup.URL() {
		t.Errorf("active host %s, want the backup (concurrent failures must not flip back)", c.ActiveHost())
	}
}

// Two apps in one process, each signing with its own secret.
func TestManyAppsInOneProcess(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t)
	svc.mu.Lock()
	svc.secrets["second-key"] = "second-secret"
	svc.mu.Unlock()
	a := newTestClient(t, newFakeClock(), 5*time.Second, svc.URL())
	b, err := NewClient(ClientConfig{AppKey: "second-key", AppSecret: NewSecret("second-secret"), Hosts: []string{svc.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{a, b, a} {
		if _, err := c.Push(context.Background(), validRequest()); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for _, call := range svc.recorded() {
		keys = append(keys, call.AppKey)
	}
	if diff := cmp.Diff([]string{testAppKey, "second-key", testAppKey}, keys); diff != "" {
		t.Errorf("App-Key per call (-want +got):\n%s", diff)
	}
}

// Every connection of the client's own transport carries at most 79
// requests (the service asks for under 80 reuses).
func TestConnectionReuseIsBounded(t *testing.T) {
	t.Parallel()
	closed := make(chan string, 64)
	svc := newFakeServiceWith(t, func(s *http.Server) {
		s.ConnState = func(conn net.Conn, state http.ConnState) {
			if state == http.StateClosed {
				closed <- conn.RemoteAddr().String()
			}
		}
	})
	c, err := NewClient(ClientConfig{AppKey: testAppKey, AppSecret: NewSecret(testSecret), Hosts: []string{svc.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	const calls = 170
	for range calls {
		if err := c.SetUserTags(context.Background(), "u1", []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	perConn := map[string]int{}
	for _, call := range svc.recorded() {
		perConn[call.RemoteAddr]++
	}
	var counts []int
	for _, n := range perConn {
		if n > maxRequestsPerConn {
			t.Errorf("a connection carried %d requests, want at most %d", n, maxRequestsPerConn)
		}
		counts = append(counts, n)
	}
	// At least 3 connections (79 + 79 + 12); on a loaded machine Go's
	// transport may dial one more while a finished one is on its way back
	// to the idle pool, so the count is a floor.
	if want := (calls + maxRequestsPerConn - 1) / maxRequestsPerConn; len(perConn) < want {
		t.Errorf("%d connections for %d sequential calls (%v), want at least %d", len(perConn), calls, counts, want)
	}
	// Every used-up connection is closed, not left idle.
	usedUp := 0
	for _, n := range perConn {
		if n == maxRequestsPerConn {
			usedUp++
		}
	}
	if usedUp == 0 {
		t.Fatalf("no connection reached %d requests (%v): the bound was never tested", maxRequestsPerConn, counts)
	}
	seen := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for usedUp > 0 {
		select {
		case addr := <-closed:
			if perConn[addr] == maxRequestsPerConn && !seen[addr] {
				seen[addr] = true
				usedUp--
			}
		case <-deadline:
			t.Fatalf("%d used-up connection(s) not closed (%v)", usedUp, counts)
		}
	}
}

func TestTransportSettings(t *testing.T) {
	t.Parallel()
	rl := newTransport(10*time.Second, nil).(*reuseLimiter)
	tr := rl.newTransport()
	if tr.IdleConnTimeout >= 55*time.Second || tr.IdleConnTimeout <= 0 {
		t.Errorf("IdleConnTimeout %s, want under 55s", tr.IdleConnTimeout)
	}
	if rl.maxUses >= 80 {
		t.Errorf("maxUses %d, want under 80", rl.maxUses)
	}
	if tr.Protocols.HTTP2() {
		t.Error("HTTP/2 must be off")
	}
}

func TestNewClientConfig(t *testing.T) {
	t.Parallel()
	c, err := NewClient(ClientConfig{AppKey: "k", AppSecret: NewSecret("s"), DataCenter: "singapore"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"https://api.sg-light-api.com", "https://api-b.sg-light-api.com"}, c.Hosts()); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	if c.timeout != DefaultTimeout || !strings.HasPrefix(c.userAgent, "tagcast/") {
		t.Errorf("defaults: timeout %s UA %q", c.timeout, c.userAgent)
	}
	c, err = NewClient(ClientConfig{AppKey: "k", AppSecret: NewSecret("s"), DataCenter: "beijing", Hosts: []string{"http://127.0.0.1:9/api/"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"http://127.0.0.1:9/api"}, c.Hosts()); diff != "" {
		t.Errorf("explicit hosts win (-want +got):\n%s", diff)
	}
	_, err = NewClient(ClientConfig{AppSecret: NewSecret("very-secret-value"), DataCenter: "mars", Hosts: nil, Timeout: -1})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"app key: required", `data center: unknown data center "mars"`, "timeout: must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "very-secret-value") {
		t.Error("the secret leaked into an error")
	}
	if _, err := NewClient(ClientConfig{AppKey: "k", AppSecret: NewSecret("s"), Hosts: []string{"api.rong-api.com"}}); err == nil {
		t.Error("a host without scheme must be rejected")
	}
}

func TestDataCenterHosts(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"beijing":       {"https://api.rong-api.com", "https://api-b.rong-api.com"},
		"singapore":     {"https://api.sg-light-api.com", "https://api-b.sg-light-api.com"},
		"singapore-b":   {"https://api.sg-b-light-api.com", "https://api-b.sg-b-light-api.com"},
		"north-america": {"https://api.us-light-api.com", "https://api-b.us-light-api.com"},
		"saudi-arabia":  {"https://api.sau-light-api.com", "https://api-b.sau-light-api.com"},
	}
	got := map[string][]string{}
	for name := range want {
		hosts, err := DataCenterHosts(name)
		if err != nil {
			t.Fatal(err)
		}
		got[name] = hosts
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := DataCenterHosts(""); err == nil {
		t.Error("empty data center must be an error")
	}
}

// A caller's own *http.Client is used (with redirects disabled) and the
// per-call deadline still holds.
func TestCustomHTTPClient(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t)
	svc.setReply(replyStall)
	own := &http.Client{Transport: &http.Transport{}}
	c, err := NewClient(ClientConfig{AppKey: testAppKey, AppSecret: NewSecret(testSecret), Hosts: []string{svc.URL()}, HTTPClient: own, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if own.CheckRedirect != nil {
		t.Error("the caller's client was modified")
	}
	_, err = c.Push(context.Background(), validRequest())
	if Classify(err) != OutcomeUnknown {
		t.Errorf("Classify = %s (%v)", Classify(err), err)
	}
}
