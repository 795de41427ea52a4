//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tagcast/tagcast/pushapi"
)

// callLog sits in front of the emulator and records what became of every
// /push.json call, by send key: the HTTP status it was answered with, or
// that its connection was dropped without an answer (the emulator's stall
// and reset faults). It is the fault log the chaos test checks each
// `unknown` send against: a send may end unknown only if its last call
// went unanswered (or the worker holding it was killed).
type callLog struct {
	now   func() time.Time // the emulator's clock: a call's instant
	mu    sync.Mutex
	seq   uint64 // orders every call's beginning and end
	calls map[string][]callResult
}

type callResult struct {
	Status  int  // 0 when dropped
	Dropped bool // the connection closed without an answer
	// Began and Ended order the call among every call's beginning and end
	// (the log's sequence; zero in hand-made records): two calls of one
	// send overlap when one began before the other ended.
	Began, Ended uint64
	// App is the call's App-Key header and At the emulator's clock when
	// the call arrived (empty in hand-made records): checkCallsCounted
	// holds every call that reached the service against its app's quota
	// and the store's quota ledger.
	App string
	At  time.Time
	// Host names the emulator's listener the call reached ("primary" or
	// "backup": the app's two hosts) and RequestID is its X-Request-ID,
	// the same on both hosts of one call's fail-over hop (empty in
	// hand-made records).
	Host, RequestID string
}

func newCallLog(now func() time.Time) *callLog {
	return &callLog{now: now, calls: map[string][]callResult{}}
}

// wrap logs the calls h gets as host (the listener's name).
func (l *callLog) wrap(h http.Handler, host string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != pushapi.PathPush {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req pushapi.Request
		key := "undecodable"
		if json.Unmarshal(body, &req) == nil {
			key = sendKey(req)
		}
		rec := &recorder{ResponseWriter: w}
		app, requestID, at := r.Header.Get("App-Key"), r.Header.Get("X-Request-ID"), l.now().UTC()
		l.mu.Lock()
		l.seq++
		began := l.seq
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			l.seq++
			l.calls[key] = append(l.calls[key], callResult{Status: rec.status, Dropped: rec.hijacked || rec.status == 0,
				Began: began, Ended: l.seq, App: app, At: at, Host: host, RequestID: requestID})
			l.mu.Unlock()
		}()
		h.ServeHTTP(rec, r)
	})
}

// snapshot copies the whole log: send key → its calls, in the order they
// ended.
func (l *callLog) snapshot() map[string][]callResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]callResult, len(l.calls))
	for k, cs := range l.calls {
		out[k] = append([]callResult(nil), cs...)
	}
	return out
}

// recorder notes the status written, or that the connection was hijacked.
type recorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("e2e: the emulator's server cannot hijack")
	}
	r.hijacked = true
	return hj.Hijack()
}

// sendKey identifies one send across the store and the emulator: the
// rendered alert names the campaign and the fire (see the scenario's
// template), the first user id names the chunk of a user-id audience.
func sendKey(r pushapi.Request) string {
	k := ""
	if r.Notification != nil {
		k = r.Notification.Alert
	}
	if len(r.Audience.UserID) > 0 {
		k += " chunk-from " + r.Audience.UserID[0]
	}
	return k
}
