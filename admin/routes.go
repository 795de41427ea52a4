package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Paths outside /v1.
const (
	PathHealthz    = "/healthz"
	PathReadyz     = "/readyz"
	PathMetrics    = "/metrics"
	PathMonitoring = "/monitoring/"
)

// routes builds the mux and wraps it in the middleware chain.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, e := range s.endpoints() {
		mux.Handle(e.pattern, e.handler)
	}
	mux.HandleFunc("/", s.noRoute(mux))
	return s.accessLog(s.recoverPanics(s.authenticate(s.limitBody(mux))))
}

// endpoint is one route of the API; api/openapi.yaml documents each (a test
// checks).
type endpoint struct {
	pattern string
	handler http.Handler
}

func (s *Server) endpoints() []endpoint {
	f := func(pattern string, h http.HandlerFunc) endpoint { return endpoint{pattern, h} }
	return []endpoint{
		f("GET "+PathHealthz, s.healthz),
		f("GET "+PathReadyz, s.readyz),
		{"GET " + PathMetrics, promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{ErrorLog: promLogger{s}})},
		f("GET "+PathMonitoring, s.monitoring),
		f(PathMonitoring, s.monitoring), // other methods: 405, read-only

		f("POST /v1/campaigns", s.createCampaign),
		f("GET /v1/campaigns", s.listCampaigns),
		f("GET /v1/campaigns/{id}", s.showCampaign),
		f("GET /v1/campaigns/{id}/runs/{run}", s.showRun),
		f("POST /v1/campaigns/{id}/pause", s.operate("pause")),
		f("POST /v1/campaigns/{id}/resume", s.operate("resume")),
		f("POST /v1/campaigns/{id}/cancel", s.operate("cancel")),
		f("POST /v1/campaigns/{id}/retry", s.retryCampaign),
		f("POST /v1/runs/{id}/retry", s.retryRun),

		f("GET /v1/quota", s.quotaAll),
		f("GET /v1/quota/{app}", s.quotaApp),
		f("DELETE /v1/quota/{app}/block", s.quotaUnblock),

		f("PUT /v1/apps/{app}/users/{user}/tags", s.setUserTags),
		f("POST /v1/apps/{app}/tags/batch", s.batchSetTags),
		f("GET /v1/apps/{app}/tags", s.getTags),
	}
}

// noRoute answers what no pattern matched: 405 with Allow when the path
// exists for other methods, else 404; both as JSON.
func (s *Server) noRoute(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, http.StatusMethodNotAllowed, errorf("%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		s.writeError(w, r, http.StatusNotFound, errorf("%s: no such endpoint (see api/openapi.yaml)", r.URL.Path))
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// ReadyStatus is the body of /readyz.
type ReadyStatus struct {
	Status string            `json:"status"` // "ready" or "not ready"
	Checks map[string]string `json:"checks"` // name -> "ok" or the error
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	out := ReadyStatus{Status: "ready", Checks: make(map[string]string, len(s.opts.Ready))}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, c := range s.opts.Ready {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			res := "ok"
			if err := c.Ping(ctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			out.Checks[c.Name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	status := http.StatusOK
	for name, res := range out.Checks {
		if res != "ok" {
			out.Status, status = "not ready", http.StatusServiceUnavailable
			s.log.Warn().Str("check", name).Str("error", res).Msg("readyz: dependency unreachable")
		}
	}
	s.writeJSON(w, r, status, out)
}

// monitoring serves the asynq UI read-only: only GET and HEAD pass.
func (s *Server) monitoring(w http.ResponseWriter, r *http.Request) {
	if s.opts.Monitoring == nil {
		s.writeError(w, r, http.StatusNotFound, errorf("the monitoring UI is not enabled on this server"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.writeError(w, r, http.StatusMethodNotAllowed, errorf("the monitoring UI is read-only"))
		return
	}
	s.opts.Monitoring.ServeHTTP(w, r)
}

// authenticate requires a valid bearer token everywhere but /healthz. Under
// /monitoring/, and on /monitoring itself (which the mux redirects to
// /monitoring/ once authorized), it also accepts HTTP Basic credentials
// whose password is a token and challenges for them, so a browser (which
// cannot add a bearer header to the UI's own requests) can open the UI,
// its address typed with or without the trailing slash.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathHealthz {
			next.ServeHTTP(w, r)
			return
		}
		monitoring := strings.HasPrefix(r.URL.Path, PathMonitoring) || r.URL.Path == strings.TrimSuffix(PathMonitoring, "/")
		token, scheme := bearer(r)
		if token == "" && monitoring {
			if _, pw, ok := r.BasicAuth(); ok {
				token, scheme = pw, "basic"
			}
		}
		if token != "" && s.accepts(token) {
			next.ServeHTTP(w, r)
			return
		}
		challenge := `Bearer realm="tagcast-admin"`
		msg := "missing bearer token (Authorization: Bearer TOKEN)"
		if token != "" {
			challenge += `, error="invalid_token"`
			msg = "invalid token"
		}
		if monitoring {
			w.Header().Add("WWW-Authenticate", `Basic realm="tagcast-monitoring", charset="UTF-8"`)
		}
		w.Header().Add("WWW-Authenticate", challenge)
		s.log.Info().Str("method", r.Method).Str("path", r.URL.Path).Str("remote", r.RemoteAddr).
			Bool("token_given", token != "").Str("scheme", scheme).Msg("admin: unauthorized request")
		s.writeError(w, r, http.StatusUnauthorized, errorf("%s", msg))
	})
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (token, scheme string) {
	h := r.Header.Get("Authorization")
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", ""
	}
	return strings.TrimSpace(rest), "bearer"
}

// accepts compares the candidate with every token in constant time: hashing
// first makes the comparisons independent of the lengths, and the loop never
// stops early.
func (s *Server) accepts(candidate string) bool {
	sum := sha256.Sum256([]byte(candidate))
	match := 0
	for i := range s.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], s.tokens[i][:])
	}
	return match == 1
}

// limitBody caps request bodies at MaxBodyBytes: 413 at once when the
// declared length is over, else the reader fails when it goes over.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.opts.MaxBodyBytes {
			s.writeError(w, r, http.StatusRequestEntityTooLarge, errorf("request body of %d bytes is over the limit of %d bytes", r.ContentLength, s.opts.MaxBodyBytes))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				s.log.Error().Str("request_id", requestID(r)).Str("path", r.URL.Path).Interface("panic", v).Msg("admin: handler panicked")
				s.writeError(w, r, http.StatusInternalServerError, errorf("internal error (request id %s)", requestID(r)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type ctxKey struct{}

// requestID is the id accessLog gave the request.
func requestID(r *http.Request) string {
	id, _ := r.Context().Value(ctxKey{}).(string)
	return id
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers (promhttp, the UI) flush.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog gives each request an id (X-Request-ID) and logs one line per
// request: method, path, route, status, size, duration, remote. Headers
// (Authorization among them) and bodies are never logged.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now() // real elapsed time: s.now may be a simulated clock
		id := newRequestID()
		w.Header().Set("X-Request-ID", id)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		elapsed := time.Since(start)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if s.metrics != nil {
			s.metrics.observe(route, sw.status, elapsed)
		}
		s.log.Info().Str("request_id", id).Str("method", r.Method).Str("path", r.URL.Path).Str("route", route).
			Int("status", sw.status).Int64("bytes", sw.bytes).Dur("duration", elapsed).Str("remote", r.RemoteAddr).
			Msg("admin request")
	})
}

// requestMetrics are the API's own metrics.
type requestMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// requestBuckets reach past the admin client's 30 s timeout: a retry of a
// campaign with thousands of failed runs can take minutes.
var requestBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

func newRequestMetrics(reg prometheus.Registerer) (*requestMetrics, error) {
	m := &requestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tagcast", Subsystem: "admin", Name: "requests_total",
			Help: "Admin API requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tagcast", Subsystem: "admin", Name: "request_duration_seconds",
			Help: "Admin API request duration by route pattern.", Buckets: requestBuckets,
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *requestMetrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// promLogger sends promhttp's errors to the server's logger.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) { l.s.log.Error().Msgf("metrics: %v", v) }
