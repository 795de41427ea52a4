package pushapi

import (
	"net"
	"net/http"
	"sync"
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
func newTransport(callTimeout time.Duration) http.RoundTripper {
	return &reuseLimiter{
		maxUses: maxRequestsPerConn,
		newTransport: func() *http.Transport {
			t := &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				DialContext:         (&net.Dialer{Timeout: callTimeout / 2, KeepAlive: 30 * time.Second}).DialContext,
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
