package pushapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
)

// DefaultTimeout bounds a call when ClientConfig.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// ClientConfig configures one Client, that is one App Key. A process may hold
// any number of Clients; they share nothing.
type ClientConfig struct {
	AppKey    string
	AppSecret Secret
	// DataCenter names a host pair (see DataCenterHosts). Ignored when Hosts is
	// set.
	DataCenter string
	// Hosts are explicit base URLs (scheme://host[:port][/prefix]), primary
	// first, e.g. a local emulator. They take precedence over DataCenter.
	Hosts []string
	// Timeout bounds a whole call (both hosts of a fail-over, reading the
	// response body included), whatever the server does. Default 10s.
	Timeout time.Duration
	// HTTPClient replaces the client's own HTTP/1.1 transport (which keeps
	// idle connections under 55 s and uses each at most 79 times). Its
	// redirect policy is overridden: redirects are never followed. With your
	// own client, connection reuse limits are yours to set, and the client
	// cannot count the bytes it writes: a call that fails without an answer
	// counts as delivered (outcome unknown, no fail-over hop) unless its
	// write is reported failed.
	HTTPClient *http.Client
	// UserAgent defaults to "tagcast/<module version>".
	UserAgent string
	// Now is the clock (Timestamp header, Retry-After dates). Default
	// time.Now.
	Now func() time.Time
	// TimestampUnit is the unit of the Timestamp header: TimestampSeconds
	// (the default, what the official SDKs send) or TimestampMilliseconds
	// (what the docs say).
	TimestampUnit string
	// Board, when set, shares the active host with the other clients of the
	// same app (other processes on the same Redis): a host one of them saw
	// fail is left by all of them at their next call, rather than each
	// meeting the failure once (a 500 costs a push quota slot). When the
	// board cannot be read, the client uses its own record of the active
	// host. Nil: the client's own record only.
	Board HostBoard
}

// HostBoard is where the clients of one app, in any number of processes,
// keep the active host. A host is named by its base URL as the client
// normalized it; an empty board names the primary.
type HostBoard interface {
	// Active returns the host the board names, "" for none.
	Active(ctx context.Context) (string, error)
	// Move names to on the board, if the board still names from, or names
	// none of hosts (empty, or written with other hosts) and from is the
	// primary, hosts[0]. A concurrent move away from from wins.
	Move(ctx context.Context, from, to string, hosts []string) error
}

// boardTimeout bounds a read or a move on the client's HostBoard, within
// the call's Timeout: a board that does not answer must not hold up the
// call much.
const boardTimeout = 250 * time.Millisecond

// PushResponse is the answer to a successful /push.json call.
type PushResponse struct {
	ID         string `json:"id"`         // push id (the service documents it equal to MessageUID)
	MessageUID string `json:"messageUID"` // message id
	Host       string `json:"host,omitempty"`
	RequestID  string `json:"requestId,omitempty"`
}

// Client calls the Server API for one App Key. It is safe for concurrent use.
//
// Every call carries a context and is bounded by ClientConfig.Timeout. Hosts:
// the client uses the active host (the primary at first). When a call meets a
// network error, a timeout or an HTTP 5xx there, the client fails over to the
// next host and stays there until that host fails in turn (the service's
// advice: keep using the host that works). Within one call the client makes
// at most one fail-over hop, and only when the first host did not take the
// request: it was never fully written, or the answer was a 503 without a
// service code (HTTP's "unable to handle the request", from a gateway or a
// host out of service: not acted on, so its quota slot goes back). A
// second call then neither duplicates a send nor costs the service's quota
// twice. After another 5xx (500, 502, 504, or a 503 carrying the service's
// own code, such as 1050, its internal timeout), which may follow a push
// and count at the service (the worker keeps its slot), the next call goes
// to the other host instead: a hop within the call would make two calls
// that may count of one reservation. (It hopped on every 5xx, until the
// e2e harness, given two hosts, found calls over the quota the guard had
// reserved.) The tag APIs, idempotent and outside the push quota, hop after
// any 5xx. With a ClientConfig.Board, the active host is the board's, shared
// with the app's clients in other processes. It never retries beyond that:
// retry policy (backoff, attempts, quota) belongs to the caller; classify
// errors with Classify.
type Client struct {
	appKey string
	// secret prints as an address: fmt cannot call Secret's redacting
	// methods on an unexported field, and a Secret holds its value behind a
	// pointer.
	secret    Secret
	hosts     []string
	timeout   time.Duration
	http      *http.Client
	userAgent string
	now       func() time.Time
	tsUnit    string // the Timestamp header's unit
	// ownTransport: http is the client's own transport (newTransport),
	// whose connections count the bytes written, not a caller's
	// ClientConfig.HTTPClient.
	ownTransport bool

	board  HostBoard // nil: active alone decides
	mu     sync.Mutex
	active int // index in hosts of the host calls go to
	// unsynced is a move the board refused (an error), made again before
	// the board is believed: until it lands, the board names a host this
	// client saw fail.
	unsynced *boardMove
}

// boardMove is a move of the board from one host to another.
type boardMove struct{ from, to string }

// NewClient checks cfg and returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) { return newClient(cfg, nil) }

// newClient is NewClient with dial replacing the network dial of the
// client's own transport (tests; nil: a net.Dialer).
func newClient(cfg ClientConfig, dial dialFunc) (*Client, error) {
	var errs []error
	switch {
	case strings.TrimSpace(cfg.AppKey) == "":
		errs = append(errs, errors.New("app key: required"))
	case strings.IndexFunc(cfg.AppKey, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		// It goes out as the App-Key header: net/http would refuse every
		// call before writing it, which reads as a network failure (retry,
		// and a fail-over from a healthy host).
		errs = append(errs, fmt.Errorf("app key: must not contain spaces or control characters, got %q", cfg.AppKey))
	}
	if cfg.AppSecret.IsZero() {
		errs = append(errs, errors.New("app secret: required"))
	}
	var hosts []string
	if len(cfg.Hosts) > 0 {
		for i, h := range cfg.Hosts {
			norm, err := normalizeHost(h)
			if err != nil {
				errs = append(errs, fmt.Errorf("hosts[%d]: %w", i, err))
				continue
			}
			hosts = append(hosts, norm)
		}
	} else {
		dc, err := DataCenterHosts(cfg.DataCenter)
		if err != nil {
			errs = append(errs, fmt.Errorf("data center: %w", err))
		}
		hosts = dc
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must not be negative, got %s", cfg.Timeout))
	}
	switch cfg.TimestampUnit {
	case "", TimestampSeconds, TimestampMilliseconds:
	default:
		errs = append(errs, fmt.Errorf("timestamp unit: must be %s or %s, got %q", TimestampSeconds, TimestampMilliseconds, cfg.TimestampUnit))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("pushapi: invalid client config: %w", errors.Join(errs...))
	}
	c := &Client{
		appKey:    cfg.AppKey,
		secret:    cfg.AppSecret,
		hosts:     hosts,
		timeout:   cfg.Timeout,
		userAgent: cfg.UserAgent,
		now:       cfg.Now,
		tsUnit:    cfg.TimestampUnit,
		board:     cfg.Board,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.userAgent == "" {
		c.userAgent = "tagcast/" + moduleVersion()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient // a copy: the caller's client keeps its policy
		hc.CheckRedirect = noRedirect
		c.http = &hc
	} else {
		c.http = &http.Client{Transport: newTransport(c.timeout, dial), CheckRedirect: noRedirect}
		c.ownTransport = true
	}
	return c, nil
}

// noRedirect makes redirects surface as 3xx answers: following one would turn
// a POST into a GET, and the service never redirects.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func normalizeHost(h string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(h))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a credential
		}
		return "", fmt.Errorf("not a valid URL: %w", err)
	}
	// Errors show the URL with any password redacted.
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("must be an absolute http(s) base URL, got %q", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("must be a base URL without user info, query or fragment, got %q", u.Redacted())
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// DataCenterHosts returns the https base URLs of a data center's hosts,
// primary first: "beijing", "singapore", "singapore-b", "north-america",
// "saudi-arabia".
func DataCenterHosts(name string) ([]string, error) {
	var primary, backup string
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "beijing":
		primary, backup = "api.rong-api.com", "api-b.rong-api.com"
	case "singapore":
		primary, backup = "api.sg-light-api.com", "api-b.sg-light-api.com"
	case "singapore-b":
		primary, backup = "api.sg-b-light-api.com", "api-b.sg-b-light-api.com"
	case "north-america":
		primary, backup = "api.us-light-api.com", "api-b.us-light-api.com"
	case "saudi-arabia":
		primary, backup = "api.sau-light-api.com", "api-b.sau-light-api.com"
	case "":
		return nil, errors.New("required when no hosts are given: one of beijing, singapore, singapore-b, north-america, saudi-arabia")
	default:
		return nil, fmt.Errorf("unknown data center %q: one of beijing, singapore, singapore-b, north-america, saudi-arabia", name)
	}
	return []string{"https://" + primary, "https://" + backup}, nil
}

// Hosts returns the client's base URLs, primary first.
func (c *Client) Hosts() []string { return append([]string(nil), c.hosts...) }

// ActiveHost returns the base URL the next call goes to.
func (c *Client) ActiveHost() string { return c.hosts[c.activeHost()] }

// activeHost returns the index of the host to use: the last one that did
// not fail.
func (c *Client) activeHost() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active
}

// startHost returns the index of the host a call starts on: the one the
// board names, when there is a board that answers and names one of the
// client's hosts (the client's own record follows it), else the client's
// own record. A move the board refused before is made first; while it
// still fails, the client's own record decides (the board names a host
// this client saw fail).
func (c *Client) startHost(ctx context.Context) int {
	if c.board == nil || len(c.hosts) < 2 {
		return c.activeHost()
	}
	bctx, cancel := context.WithTimeout(ctx, boardTimeout)
	defer cancel()
	c.mu.Lock()
	u := c.unsynced
	c.mu.Unlock()
	if u != nil {
		if c.board.Move(bctx, u.from, u.to, c.hosts) != nil {
			return c.activeHost()
		}
		c.mu.Lock()
		if c.unsynced == u {
			c.unsynced = nil
		}
		c.mu.Unlock()
	}
	h, err := c.board.Active(bctx)
	if err != nil {
		return c.activeHost()
	}
	idx := 0
	if h != "" {
		if idx = slices.Index(c.hosts, h); idx < 0 {
			return c.activeHost() // a board written with other hosts
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = idx
	return idx
}

// hostFailed moves to the host after idx, which stays active until it fails
// in turn, unless a concurrent call already moved away from idx; and so does
// the board, unless another client already moved it away from idx.
func (c *Client) hostFailed(ctx context.Context, idx int) {
	if len(c.hosts) < 2 {
		return
	}
	next := (idx + 1) % len(c.hosts)
	c.mu.Lock()
	if c.active == idx {
		c.active = next
	}
	c.mu.Unlock()
	if c.board != nil {
		// Within the call's deadline (Timeout bounds the whole call, and
		// the worker's lease and stop rules count on it: a move outside it
		// made a call up to boardTimeout late, found by a review). An
		// error, or no time left, leaves the others to meet the failure
		// themselves, and this client to make the move again before it
		// believes the board.
		bctx, cancel := context.WithTimeout(ctx, boardTimeout)
		defer cancel()
		m := &boardMove{from: c.hosts[idx], to: c.hosts[next]}
		err := c.board.Move(bctx, m.from, m.to, c.hosts)
		c.mu.Lock()
		if err != nil {
			c.unsynced = m
		} else {
			c.unsynced = nil
		}
		c.mu.Unlock()
	}
}

// CloseIdleConnections closes the client's idle connections (at shutdown).
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Push validates req and sends it to /push.json.
func (c *Client) Push(ctx context.Context, req *Request) (*PushResponse, error) {
	body, err := req.Encode()
	if err != nil {
		return nil, c.invalid(PathPush, err)
	}
	var out PushResponse
	res, err := c.call(ctx, PathPush, contentTypeJSON, body, &out)
	if err != nil {
		return nil, err
	}
	out.Host, out.RequestID = res.host, res.requestID
	return &out, nil
}

// invalid wraps a request rejected before sending (NotSent, OutcomeFailed).
func (c *Client) invalid(path string, err error) *Error {
	return &Error{Path: path, Message: "request rejected before sending", Err: err}
}

type callResult struct {
	host, requestID string
}

// Attempt is one exchange of a call with one host: a call makes one, or two
// with a fail-over hop. See WithAttemptObserver.
type Attempt struct {
	Path string // API path, e.g. "/push.json"
	Host string // base URL of the host tried
	// HTTPStatus is the answer's status, 0 when none came (a network error,
	// a timeout, a request never sent).
	HTTPStatus int
	// Code is the service's code in the answer's body (CodeOK on success),
	// 0 when the body had none.
	Code int
	// Duration is the real time the attempt took, reading the answer
	// included.
	Duration time.Duration
}

type attemptObserverKey struct{}

// WithAttemptObserver returns a copy of ctx with which a Client's call
// reports each of its attempts to observe, once the attempt is over and
// before any fail-over hop: a call's result tells only its last host, and
// a primary that failed before the hop would be seen in no per-host
// latency or error count. observe runs on the calling goroutine and should
// return promptly.
func WithAttemptObserver(ctx context.Context, observe func(Attempt)) context.Context {
	return context.WithValue(ctx, attemptObserverKey{}, observe)
}

// call POSTs body to path: one attempt on the active host, plus at most one
// fail-over hop. out receives the JSON body of a successful answer.
func (c *Client) call(ctx context.Context, path, contentType string, body []byte, out any) (callResult, error) {
	requestID, err := newRequestID()
	if err != nil {
		return callResult{}, &Error{Path: path, Message: "generating request id", Err: err}
	}
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	observe, _ := ctx.Value(attemptObserverKey{}).(func(Attempt))
	first := c.startHost(callCtx)
	attempts := min(2, len(c.hosts))
	var (
		mayHaveReached bool
		retryAfter     time.Duration // the longest a host of the call asked for
	)
	for i := range attempts {
		idx := (first + i) % len(c.hosts)
		start := time.Now() // real time, whatever c.now says
		status, e := c.attempt(callCtx, c.hosts[idx], path, contentType, requestID, body, out)
		if observe != nil {
			a := Attempt{Path: path, Host: c.hosts[idx], HTTPStatus: status, Code: CodeOK, Duration: time.Since(start)}
			if e != nil {
				a.Code = e.Code
			}
			observe(a)
		}
		if e == nil {
			return callResult{host: c.hosts[idx], requestID: requestID}, nil
		}
		mayHaveReached = mayHaveReached || e.MayHaveReached
		e.MayHaveReached = mayHaveReached
		// A primary's announced outage (503, Retry-After) still holds when
		// the backup then fails (no answer, or a 5xx): the next call goes
		// back to the primary. A backup that answers as itself says when
		// to come back (a 429 without a Retry-After: its window's end, not
		// the primary's maintenance day; found by a review).
		if e.HTTPStatus == 0 || e.HTTPStatus >= 500 {
			e.RetryAfter = max(e.RetryAfter, retryAfter)
		}
		retryAfter = max(retryAfter, e.RetryAfter)
		e.Attempts = i + 1
		hostFault := e.HTTPStatus >= 500 || e.transport
		if hostFault && ctx.Err() == nil { // the caller's own cancellation says nothing about the host
			c.hostFailed(callCtx, idx)
		}
		// A second attempt must neither duplicate a send nor make a second
		// call that may count against the quota: only when the request never
		// got written or the host did not take it (a 503 without a service
		// code). Another 5xx moves
		// the next call instead, but for the tag APIs (idempotent, outside
		// the push quota).
		notTaken := !e.lastWritten || e.unavailable()
		hop := hostFault && (notTaken || path != PathPush) && callCtx.Err() == nil
		if !hop || i == attempts-1 {
			return callResult{}, e
		}
	}
	panic("unreachable")
}

// attempt makes one HTTP exchange with one host. It returns the answer's
// HTTP status (0: none) and, unless the call succeeded, its error.
func (c *Client) attempt(ctx context.Context, host, path, contentType, requestID string, body []byte, out any) (int, *Error) {
	fail := func(e *Error) (int, *Error) {
		e.Path, e.Host, e.RequestID = path, host, requestID
		return e.HTTPStatus, e
	}
	nonce, err := newNonce()
	if err != nil {
		return fail(&Error{Message: "generating nonce", Err: err})
	}
	ts := timestamp(c.now(), c.tsUnit)

	var wrote, writeFailed atomic.Bool
	sent := sentBytes{owned: c.ownTransport}
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { sent.got(info.Conn) },
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err != nil {
				writeFailed.Store(true)
			} else {
				wrote.Store(true)
			}
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, host+path, bytes.NewReader(body))
	if err != nil {
		return fail(&Error{Message: "building request", Err: err})
	}
	h := req.Header
	h.Set("App-Key", c.appKey)
	h.Set("Nonce", nonce)
	h.Set("Timestamp", ts)
	h.Set("Signature", Sign(c.secret.Reveal(), nonce, ts))
	h.Set("Content-Type", contentType)
	h.Set("User-Agent", c.userAgent)
	h.Set("X-Request-ID", requestID)

	resp, err := c.http.Do(req)
	if err != nil {
		written := requestWritten(wrote.Load(), writeFailed.Load(), &sent)
		msg := "request not sent"
		if written {
			msg = "no answer after the request was sent"
		}
		return fail(&Error{Message: msg, MayHaveReached: written, lastWritten: written, transport: true, Err: err})
	}
	defer resp.Body.Close()

	e := &Error{HTTPStatus: resp.StatusCode, lastWritten: true, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now())}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBodyBytes+1))
	switch {
	case err != nil:
		e.Message, e.Err, e.transport = "reading the response body", err, true
	case len(data) > maxResponseBodyBytes:
		e.Message = fmt.Sprintf("response body larger than %d bytes", maxResponseBodyBytes)
	default:
		var env struct {
			Code         *int   `json:"code"`
			ErrorMessage string `json:"errorMessage"`
		}
		if jerr := json.Unmarshal(data, &env); jerr != nil || env.Code == nil {
			e.Message = fmt.Sprintf("non-JSON response body (HTTP %d, Content-Type %q): %s",
				resp.StatusCode, resp.Header.Get("Content-Type"), snippet(data))
			e.Err = jerr
			break
		}
		if resp.StatusCode/100 == 2 && *env.Code == CodeOK {
			if out != nil {
				if jerr := json.Unmarshal(data, out); jerr != nil {
					e.Message, e.Err = "decoding the success response", jerr
					break
				}
			}
			return resp.StatusCode, nil
		}
		e.Code, e.Message = *env.Code, env.ErrorMessage
	}
	e.MayHaveReached = !e.refused() && !e.unavailable()
	return fail(e)
}

// requestWritten tells whether a call that got no answer may have reached
// the service:
//   - on the client's own transport, the bytes its connections wrote tell:
//     without a connection, nothing was written (it counts every connection
//     it dials); net/http tries a POST again on a fresh connection only when
//     nothing of it was written before, and that is judged on the same
//     bytes: an idle keep-alive connection the server dropped, then a
//     refused dial, is "not written";
//   - on another transport (ClientConfig.HTTPClient), which may retry a
//     request it did deliver (a retrying wrapper, HTTP/2) or deliver one
//     without reporting its connection through httptrace (a wrapper that
//     sends a request of its own), neither the connections seen nor their
//     absence prove anything: the request counts as written unless its
//     write failed, the conservative answer (net/http reports a request
//     written once it is in its buffer).
func requestWritten(wrote, writeFailed bool, sent *sentBytes) bool {
	if written, known := sent.written(); known {
		return written
	}
	return wrote || !writeFailed
}

// snippet returns at most 120 printable characters of a body, for messages.
func snippet(b []byte) string {
	const limit = 120
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, string(b))
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	if s == "" {
		return "(empty)"
	}
	return s
}
