package pushapi

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Connection reuse, as the service advises: keep idle connections under 55 s
// and under 80 reuses.
const (
	// idleConnTimeout closes a connection idle for 50 s, safely under the
	// service's 55 s.
	idleConnTimeout = 50 * time.Second
	// maxRequestsPerConn: a connection serves at most 79 requests (78
	// reuses), safely under the service's 80.
	maxRequestsPerConn = 79
)

// newTransport returns the HTTP/1.1 transport of a Client (HTTP/2 is off: the
// reuse advice is about HTTP/1.1 keep-alive). Dial and TLS handshake are
// bounded by half the call timeout, so a black-holed primary leaves time to
// fail over.
//
// Every connection it dials counts the bytes written to it (countingConn),
// so a call that fails can tell a request that never left from one that may
// have reached the service. dial replaces the network dial (tests); nil
// means a net.Dialer.
func newTransport(callTimeout time.Duration, dial dialFunc) http.RoundTripper {
	if dial == nil {
		dial = (&net.Dialer{Timeout: callTimeout / 2, KeepAlive: 30 * time.Second}).DialContext
	}
	counted := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c}, nil
	}
	return &reuseLimiter{
		maxUses: maxRequestsPerConn,
		newTransport: func() *http.Transport {
			t := &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				DialContext:         counted,
				TLSHandshakeTimeout: callTimeout / 2,
				IdleConnTimeout:     idleConnTimeout,
				MaxIdleConns:        16,
				MaxIdleConnsPerHost: 4,
				Protocols:           new(http.Protocols),
			}
			t.Protocols.SetHTTP1(true)
			return t
		},
	}
}

// reuseLimiter bounds the requests any one connection carries by bounding
// the requests of a whole http.Transport: a transport ("generation") serves
// at most maxUses requests, then a fresh one takes over and the old one is
// told to close its connections as soon as they become idle. No connection
// can therefore carry more than maxUses requests, whatever the server does.
//
// Why not count per connection: http.Transport picks the connection inside
// RoundTrip and works on its own copy of the request, so a wrapper can
// neither choose nor mark the connection of a request; closing connections
// from outside would race with the idle pool handing them out again. The
// price of the generation scheme is at most one extra dial per maxUses
// requests, nothing at this service's rates.
type reuseLimiter struct {
	maxUses      int
	newTransport func() *http.Transport

	mu  sync.Mutex
	cur *generation
}

type generation struct {
	t        *http.Transport
	started  int  // requests handed to t
	inFlight int  // RoundTrip calls on t not yet returned
	retired  bool // t takes no more requests
}

func (l *reuseLimiter) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	if l.cur == nil {
		l.cur = &generation{t: l.newTransport()}
	}
	g := l.cur
	g.started++
	g.inFlight++
	if g.started >= l.maxUses {
		g.retired = true
		l.cur = nil
	}
	l.mu.Unlock()

	resp, err := g.t.RoundTrip(req)

	l.mu.Lock()
	g.inFlight--
	closeIdle := g.retired && g.inFlight == 0
	l.mu.Unlock()
	if closeIdle {
		// Every request of g has its connection by now. CloseIdleConnections
		// closes the idle ones and makes t close each busy one when it turns
		// idle (t takes no new request that would undo that).
		g.t.CloseIdleConnections()
	}
	return resp, err
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// current transport.
func (l *reuseLimiter) CloseIdleConnections() {
	l.mu.Lock()
	g := l.cur
	l.mu.Unlock()
	if g != nil {
		g.t.CloseIdleConnections()
	}
}

// dialFunc dials a connection (net.Dialer.DialContext's shape).
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// countingConn counts the bytes handed to the network. net/http writes a
// request through a buffer and reports it written (httptrace's WroteRequest)
// before the buffer reaches the socket, so only the connection itself can
// tell whether a failed call's request left at all.
type countingConn struct {
	net.Conn
	written atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

// sentBytes follows the connections one request was given (net/http may
// retry a request that wrote nothing on a fresh connection), each with its
// count when it was given, to tell afterwards whether any byte left.
//
// owned says the request goes through the client's own transport, which
// counts every connection it dials. Only then does "no connection seen"
// prove that nothing was written: another transport (ClientConfig.HTTPClient)
// may deliver a request without reporting any connection through httptrace
// (a wrapper that sends its own request with a fresh context, a recording
// transport, a transport not built on net/http).
type sentBytes struct {
	owned     bool
	mu        sync.Mutex
	conns     []*countingConn
	base      []int64
	uncounted bool // a connection of another transport (ClientConfig.HTTPClient)
}

// got records a connection handed to the request (httptrace's GotConn).
func (s *sentBytes) got(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if cc, ok := c.(*countingConn); ok {
			s.conns = append(s.conns, cc)
			s.base = append(s.base, cc.written.Load())
			return
		}
		tc, ok := c.(interface{ NetConn() net.Conn }) // *tls.Conn
		if !ok {
			s.uncounted = true
			return
		}
		c = tc.NetConn()
	}
}

// written reports whether any byte was written to the request's
// connections since they were given to it (on the client's own transport,
// none given: nothing written); known is false on another transport, or
// when one of the connections could not be counted. (Over TLS a
// close_notify written as a broken connection closes may count too: the
// safe side.)
func (s *sentBytes) written() (written, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.owned || s.uncounted {
		return false, false
	}
	for i, c := range s.conns {
		if c.written.Load() > s.base[i] {
			return true, true
		}
	}
	return false, true
}
