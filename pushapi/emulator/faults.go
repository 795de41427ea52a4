package emulator

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/tagcast/tagcast/pushapi"
)

// fault is the outcome of one fault draw.
type fault int

const (
	faultNone fault = iota
	faultError500
	faultError504
	faultStallSent
	faultStallDropped
	faultReset
)

// draw picks a fault for one call from f's fractions with the seeded
// generator. Callers hold e.mu.
func (e *Emulator) draw(f Faults) fault {
	if f.Error500 == 0 && f.Error504 == 0 && f.StallSent == 0 && f.StallDropped == 0 && f.Reset == 0 {
		return faultNone // no draw: keeps the sequence of draws stable when faults are off
	}
	x := e.rng.Float64()
	for _, c := range []struct {
		p float64
		f fault
	}{{f.Error500, faultError500}, {f.Error504, faultError504}, {f.StallSent, faultStallSent}, {f.StallDropped, faultStallDropped}, {f.Reset, faultReset}} {
		if x < c.p {
			return c.f
		}
		x -= c.p
	}
	return faultNone
}

// injectFaults applies the faults in force for the call's app. It reports
// true when the call has been answered (or its connection dropped) already.
func (e *Emulator) injectFaults(w http.ResponseWriter, c *call) bool {
	e.mu.Lock()
	f := e.faultsFor(c.st)
	if c.endpoint != pushapi.PathPush && !f.TagAPIs {
		e.mu.Unlock()
		return false
	}
	// The service's rate limit stands in front of the rest of it (it
	// refuses even an app whose push service is not enabled): a push over
	// the quota is answered 429/1008 (processPush) whatever fault it would
	// have drawn, so a check for "never a 429" sees every call over it.
	if c.endpoint == pushapi.PathPush && !c.st.pushRoom(e.clock.now()) {
		e.mu.Unlock()
		return false
	}
	if f.Latency > 0 {
		c.st.counters.LatencyFaults++
	}
	drawn := e.draw(f)
	e.mu.Unlock()

	if f.Latency > 0 && !wait(c.r, time.Duration(f.Latency)) {
		return true // the client gave up
	}
	switch drawn {
	case faultError500:
		e.respond(w, c, fail(http.StatusInternalServerError, pushapi.CodeInternal, "internal error, retry later (injected)"))
		return true
	case faultError504:
		e.respond(w, c, fail(http.StatusGatewayTimeout, pushapi.CodeServiceTimeout, "internal service timeout (injected)"))
		return true
	case faultStallDropped:
		e.stallAndDrop(w, c, true)
		return true
	case faultReset:
		e.count(c, func(ctr *Counters) { ctr.ResetConn++ })
		e.log.Debug().Str("path", c.endpoint).Str("app_key", c.appKey).Msg("emulator: resetting connection (injected)")
		drop(w, true)
		return true
	case faultStallSent:
		c.stallSent = true
	}
	return false
}

// count applies fn to the call's counters under the lock.
func (e *Emulator) count(c *call, fn func(*Counters)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.st != nil {
		fn(&c.st.counters)
		return
	}
	fn(&e.unknown)
}

// stallAndDrop waits the stall time (or until the client gives up), then
// closes the connection without an answer.
func (e *Emulator) stallAndDrop(w http.ResponseWriter, c *call, dropped bool) {
	e.mu.Lock()
	d := e.faultsFor(c.st).stallFor()
	if dropped {
		c.st.counters.StallDropped++
	} else {
		c.st.counters.StallSent++
	}
	e.mu.Unlock()
	e.log.Debug().Str("path", c.endpoint).Str("app_key", c.appKey).Bool("processed", !dropped).Dur("stall", d).Msg("emulator: stalling, then dropping the connection (injected)")
	wait(c.r, d)
	drop(w, false)
}

// wait sleeps d of real time (faults simulate the network, not the emulated
// clock) unless the request's context ends first; it reports whether d passed.
func wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// drop closes the connection under the handler without an HTTP answer. With
// reset, SO_LINGER 0 makes the close send a TCP RST.
func drop(w http.ResponseWriter, reset bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // net/http closes the connection (HTTP/2: resets the stream)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if reset {
		raw := conn
		if tc, ok := conn.(*tls.Conn); ok {
			raw = tc.NetConn()
		}
		if tcp, ok := raw.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0)
		}
	}
	_ = conn.Close()
}
