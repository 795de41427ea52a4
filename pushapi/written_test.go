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
		AppKey: testAppKey, AppSecret: testSecret, Hosts: []string{primary.URL(), backup.URL()},
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
		AppKey: testAppKey, AppSecret: testSecret, Hosts: []string{primary.URL(), backup.URL()},
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
// Nothing reached the primary, so the call hops to the backup, on the
// client's own transport and on a caller's (net/http tries a POST again
// only when nothing of it was written).
func TestIdleConnectionResetThenRefusedHopsToTheBackup(t *testing.T) {
	t.Parallel()
	for _, own := range []bool{true, false} {
		name := map[bool]string{true: "own transport", false: "caller's transport"}[own]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			primary, backup := newFakeService(t), newFakeService(t)
			var broken, refuse atomic.Bool
			dial := breakableDial(primary.srv.Listener.Addr().String(), &broken, &refuse)
			cfg := ClientConfig{AppKey: testAppKey, AppSecret: testSecret, Hosts: []string{primary.URL(), backup.URL()}, Timeout: 5 * time.Second}
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
			mustHop(t, resp, err, backup)
		})
	}
}
