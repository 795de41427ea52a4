package pushapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// brokenConn is a connection whose peer reset it: once broken is set, every
// Write fails with ECONNRESET having written nothing, as the kernel answers
// once the peer's RST has arrived.
type brokenConn struct {
	net.Conn
	broken *atomic.Bool
}

func (c brokenConn) Write(b []byte) (int, error) {
	if c.broken.Load() {
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)}
	}
	return c.Conn.Write(b)
}

// breakableDial dials like a net.Dialer; connections to addr break, and
// dials to it are refused, once broken is set (refuse: only new dials).
func breakableDial(addr string, broken, refuse *atomic.Bool) dialFunc {
	return func(ctx context.Context, network, a string) (net.Conn, error) {
		if a == addr && refuse.Load() {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
		}
		c, err := (&net.Dialer{}).DialContext(ctx, network, a)
		if err != nil || a != addr {
			return c, err
		}
		return brokenConn{Conn: c, broken: broken}, nil
	}
}

func mustHop(t *testing.T, resp *PushResponse, err error, backup *fakeService) {
	t.Helper()
	if err != nil {
		var e *Error
		errors.As(err, &e)
		t.Fatalf("nothing reached the primary, yet: outcome %s, MayHaveReached %v, backup calls %d; want a hop to the backup: %v",
			Classify(err), e != nil && e.MayHaveReached, backup.callCount(), err)
	}
	if resp.Host != backup.URL() {
		t.Errorf("answered by %s, want the backup", resp.Host)
	}
}

// A primary that resets a connection before the client wrote a byte has
// certainly not received the push. net/http reports the request written
// (httptrace's WroteRequest) as soon as it is in its buffer, before the
// buffer reaches the socket, so the client counts what its connections
// really wrote: the call hops to the backup instead of ending unknown
// (never re-sent automatically, its quota slot kept). On a caller's own
// transport nothing can be counted and the call stays unknown: the safe
// side.
func TestRequestResetBeforeAByteLeftHopsToTheBackup(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	var broken, refuse atomic.Bool
	broken.Store(true)
	dial := breakableDial(primary.srv.Listener.Addr().String(), &broken, &refuse)

	c, err := newClient(ClientConfig{
		AppKey: testAppKey, AppSecret: NewSecret(testSecret), Hosts: []string{primary.URL(), backup.URL()},
		Timeout: 5 * time.Second,
	}, dial)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Push(context.Background(), validRequest())
	mustHop(t, resp, err, backup)

	tr := &http.Transport{DialContext: dial}
	t.Cleanup(tr.CloseIdleConnections)
	c, err = NewClient(ClientConfig{
		AppKey: testAppKey, AppSecret: NewSecret(testSecret), Hosts: []string{primary.URL(), backup.URL()},
		Timeout: 5 * time.Second, HTTPClient: &http.Client{Transport: tr},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Push(context.Background(), validRequest())
	if got := Classify(err); got != OutcomeUnknown {
		t.Errorf("on a caller's transport: outcome %s (%v), want unknown (its writes cannot be counted)", got, err)
	}
	if n := primary.callCount(); n != 0 {
		t.Errorf("test setup: the primary saw %d calls, want 0", n)
	}
}

// The fail-over case the service's advice is about: the primary goes away
// while the client holds an idle keep-alive connection to it. The reused
// connection turns out reset with nothing written (net/http then tries the
// request on a fresh connection by itself) and the fresh dial is refused.
// Nothing reached the primary, and the client's own connections show it:
// the call hops to the backup. On a caller's transport nothing is counted,
// and a transport that may retry a delivered request (see below) could end
// in the same dial error: the call stays unknown, the safe side.
func TestIdleConnectionResetThenRefusedHopsToTheBackup(t *testing.T) {
	t.Parallel()
	for _, own := range []bool{true, false} {
		name := map[bool]string{true: "own transport", false: "caller's transport"}[own]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			primary, backup := newFakeService(t), newFakeService(t)
			var broken, refuse atomic.Bool
			dial := breakableDial(primary.srv.Listener.Addr().String(), &broken, &refuse)
			cfg := ClientConfig{AppKey: testAppKey, AppSecret: NewSecret(testSecret), Hosts: []string{primary.URL(), backup.URL()}, Timeout: 5 * time.Second}
			var ownDial dialFunc
			if own {
				ownDial = dial
			} else {
				tr := &http.Transport{DialContext: dial}
				t.Cleanup(tr.CloseIdleConnections)
				cfg.HTTPClient = &http.Client{Transport: tr}
			}
			c, err := newClient(cfg, ownDial)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Push(context.Background(), validRequest()); err != nil {
				t.Fatal(err) // leaves an idle keep-alive connection to the primary
			}
			broken.Store(true) // the primary goes away
			refuse.Store(true)
			resp, err := c.Push(context.Background(), validRequest())
			if got := primary.callCount(); got != 1 {
				t.Fatalf("test setup: the primary saw %d calls, want 1 (the second never reached it)", got)
			}
			if own {
				mustHop(t, resp, err, backup)
			} else if got := Classify(err); got != OutcomeUnknown || backup.callCount() != 0 {
				t.Errorf("on a caller's transport: outcome %s, %d backup calls (%v); want unknown, none", got, backup.callCount(), err)
			}
		})
	}
}

// retryingTransport is a caller's RoundTripper that tries a failed request
// once more (as retry wrappers do, or net/http's own HTTP/2 transport after
// a PROTOCOL_ERROR from the peer): the second try's error is returned.
type retryingTransport struct {
	base   http.RoundTripper
	before func() // between the tries
}

func (rt retryingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(req)
	if err == nil {
		return resp, nil
	}
	rt.before()
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		again.Body, _ = req.GetBody()
	}
	return rt.base.RoundTrip(again)
}

// A caller's transport (ClientConfig.HTTPClient) may try a request again
// after delivering it, and its last error may then be a refused dial: that
// says nothing about the earlier try, so the call must not hop to the
// backup (a second push). (A review found a dial-error rule applied to every
// transport; it holds only for the client's own, whose bytes are counted.)
func TestDialErrorOnACallersTransportIsNoProofOfNothingSent(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	// The primary receives the whole request, then the connection drops
	// before any answer (it may well have sent the push).
	primary.setReply(func(w http.ResponseWriter, r *http.Request, call recorded) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = c.Close()
		}
	})
	var broken, refuse atomic.Bool
	dial := breakableDial(primary.srv.Listener.Addr().String(), &broken, &refuse)
	tr := &http.Transport{DialContext: dial}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := NewClient(ClientConfig{
		AppKey: testAppKey, AppSecret: NewSecret(testSecret), Hosts: []string{primary.URL(), backup.URL()},
		Timeout: 5 * time.Second,
		HTTPClient: &http.Client{Transport: retryingTransport{base: tr, before: func() {
			refuse.Store(true) // the primary is gone for the second try
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Push(context.Background(), validRequest())
	if got := primary.callCount(); got < 1 {
		t.Fatalf("test setup: the primary saw %d calls, want at least 1", got)
	}
	if n := backup.callCount(); n != 0 {
		t.Fatalf("the primary received the request (and may have sent it), yet the call hopped to the backup (%d calls): a duplicate push; outcome %s, err %v",
			n, Classify(err), err)
	}
}
