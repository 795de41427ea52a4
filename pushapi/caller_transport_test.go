package pushapi

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// detachedTransport is a caller's RoundTripper (ClientConfig.HTTPClient)
// that forwards each request on a request of its own, with a fresh context:
// a detaching proxy wrapper, a recording/replaying transport, an HTTP/3 or
// other non-net/http transport. None of net/http's httptrace hooks of the
// client's request fire, so the client sees no GotConn and no WroteRequest,
// yet the request is delivered in full.
type detachedTransport struct{ base http.RoundTripper }

func (d detachedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	out, err := http.NewRequestWithContext(context.Background(), req.Method, req.URL.String(), req.Body)
	if err != nil {
		return nil, err
	}
	out.Header = req.Header.Clone()
	out.ContentLength = req.ContentLength
	return d.base.RoundTrip(out)
}

// TestCallersTransportWithoutTraceIsNoProofOfNothingSent guards that only
// the client's own transport may conclude "nothing written" from no
// connection seen (transport.go sentBytes.written, client.go
// requestWritten); a review found the rule applied to a caller's transport
// too, so a push the primary received was sent again through the backup.
//
// push-api-facts.md: "Retryable: 1000, 1050, HTTP 5xx, network errors before
// the request was sent"; DESIGN.md: "`unknown` (timeout or reset after the
// request was written: the service may have sent it; not re-sent
// automatically, because a duplicate marketing push is worse than a missing
// one". client.go requestWritten: "on another transport
// (ClientConfig.HTTPClient) ... the request counts as written unless its
// write failed, the conservative answer".
//
// sentBytes.written used to answer "known: nothing written" whenever no
// connection was seen through httptrace, which only proves something for
// the client's own transport (whose dials are counted). On a caller's
// transport that does not report GotConn, a request delivered in full and
// then answered by a dropped connection was taken as never sent: the call
// hopped to the backup (a second push) and came back as retry / NotSent
// (the worker retried it and the quota guard released the slot).
func TestCallersTransportWithoutTraceIsNoProofOfNothingSent(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyReset) // reads the whole push, then drops the connection
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := NewClient(ClientConfig{
		AppKey: testAppKey, AppSecret: NewSecret(testSecret), Hosts: []string{primary.URL(), backup.URL()},
		Timeout: 5 * time.Second, HTTPClient: &http.Client{Transport: detachedTransport{base: tr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Push(context.Background(), validRequest())
	if n := primary.callCount(); n != 1 {
		t.Fatalf("test setup: the primary received %d pushes, want 1", n)
	}
	if n := backup.callCount(); n != 0 {
		t.Errorf("the primary received the whole push, yet the call hopped to the backup (%d calls): a duplicate push (outcome %s, err %v)",
			n, Classify(err), err)
	}
	if got := Classify(err); got != OutcomeUnknown {
		t.Errorf("Classify = %s, want %s: the push was delivered before the connection dropped (err %v)", got, OutcomeUnknown, err)
	}
	var e *Error
	if errors.As(err, &e) && e.NotSent() {
		t.Errorf("NotSent() = true for a push the primary received: the quota guard would release its slot")
	}
}
