package admin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/quota"
)

// DefaultMaxBodyBytes caps request bodies (a 2,500-id campaign file is about
// 40 KiB).
const DefaultMaxBodyBytes = 1 << 20

// DefaultShutdownTimeout bounds Run's graceful shutdown.
const DefaultShutdownTimeout = 10 * time.Second

// readyTimeout bounds each /readyz check.
const readyTimeout = 3 * time.Second

// CampaignStore is what the API reads and creates campaigns with
// (campaign.Store satisfies it).
type CampaignStore interface {
	Create(ctx context.Context, c campaign.Campaign, now time.Time) (campaign.Campaign, error)
	// CreateIdempotent and FindIdempotent serve creates under an
	// Idempotency-Key (see campaign.Store).
	CreateIdempotent(ctx context.Context, c campaign.Campaign, key campaign.IdempotencyKey, now time.Time) (campaign.Campaign, bool, error)
	FindIdempotent(ctx context.Context, key campaign.IdempotencyKey) (campaign.Campaign, bool, error)
	List(ctx context.Context, f campaign.ListFilter) ([]campaign.Campaign, int64, error)
	GetCampaign(ctx context.Context, id int64) (campaign.Campaign, error)
	// Get reads a campaign with one page of its runs (see campaign.Store).
	Get(ctx context.Context, id int64, q campaign.RunsQuery) (campaign.Detail, error)
	GetRun(ctx context.Context, runID int64) (campaign.Run, []campaign.Send, error)
	RunsWithStatus(ctx context.Context, campaignID int64, statuses []campaign.RunStatus, afterID int64, limit int) ([]campaign.Run, error)
	// RetriesUnderKey serves retries under an Idempotency-Key (see
	// campaign.Store).
	RetriesUnderKey(ctx context.Context, key string) ([]campaign.RetryRecord, error)
}

// Operations change campaigns and runs on an operator's request: the
// scheduler's operations facade, or StoreOperations. Errors follow the store's
// conventions (campaign.ErrNotFound, campaign.ErrIllegalTransition).
type Operations interface {
	Pause(ctx context.Context, id int64) (campaign.Campaign, error)
	// Resume re-activates a paused campaign; the missed-fire policy applies
	// to what fell in the pause.
	Resume(ctx context.Context, id int64) (campaign.Campaign, error)
	// Cancel cancels the campaign, its unfinished runs and their unsent
	// sends, and returns how many runs and sends it cancelled.
	Cancel(ctx context.Context, id int64) (campaign.Cancellation, error)
	// Retry re-opens a settled run: its failed and expired sends (and
	// unknown ones when opts.Unknown) go back to pending and the run is
	// sent again. It returns the number of sends reset; none is an error
	// matching campaign.ErrNothingToRetry. Under opts.Key, a run the key
	// re-opened before is an error matching campaign.ErrRetriedUnderKey.
	Retry(ctx context.Context, runID int64, opts campaign.RetryOptions) (int, error)
}

// QuotaReader reports an app's quota windows (quota.Guard satisfies it).
// An unknown app is an error matching quota.ErrUnknownApp.
type QuotaReader interface {
	Status(ctx context.Context, app string) (quota.Status, error)
}

// QuotaUnblocker lifts an app's block and returns the end of the block it
// lifted, zero when there was none (quota.Guard satisfies it); a
// QuotaReader that is not one answers DELETE /v1/quota/{app}/block with 503.
type QuotaUnblocker interface {
	Unblock(ctx context.Context, app string) (time.Time, error)
}

// TagService is one app's user tag API (pushapi.Client satisfies it).
type TagService interface {
	SetUserTags(ctx context.Context, userID string, tags []string) error
	BatchSetUserTags(ctx context.Context, userIDs, tags []string) error
	GetUserTags(ctx context.Context, userIDs []string) (map[string][]string, error)
}

// Pinger checks that a dependency is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// PingFunc adapts a function to Pinger, e.g.
// PingFunc(func(ctx context.Context) error { return rdb.Ping(ctx).Err() }).
type PingFunc func(ctx context.Context) error

// Ping calls f.
func (f PingFunc) Ping(ctx context.Context) error { return f(ctx) }

// Check is one dependency /readyz verifies.
type Check struct {
	Name string // "store", "redis"
	Pinger
}

// Options configure a Server. Store, Operations, Tokens and Apps are required.
type Options struct {
	// Addr is where Run listens (host:port).
	Addr string
	// Tokens are the accepted bearer tokens. At least one is required: the
	// API never runs open.
	Tokens []string
	// Apps are the configured app names: campaigns must name one, and
	// GET /v1/quota lists them in this order.
	Apps []string

	Store      CampaignStore
	Operations Operations
	// Quota answers /v1/quota; nil answers 503 there.
	Quota QuotaReader
	// Tags maps an app name to its tag API; an app missing here is 404 on
	// the tag endpoints.
	Tags map[string]TagService
	// Ready are the checks of /readyz (store and Redis).
	Ready []Check
	// Gatherer serves /metrics; nil serves prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// Registerer receives the API's own request metrics; nil registers none.
	Registerer prometheus.Registerer
	// Monitoring is the asynq monitoring UI (see admin/monitoring), served
	// read-only under /monitoring/ behind the same auth; nil answers 404
	// there.
	Monitoring http.Handler

	// MaxBodyBytes caps request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// ShutdownTimeout bounds Run's graceful shutdown; 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the access log (never tokens) and internal errors.
	Logger zerolog.Logger
}

// Server is the admin HTTP API.
type Server struct {
	opts    Options
	tokens  [][sha256.Size]byte
	now     func() time.Time
	log     zerolog.Logger
	handler http.Handler
	metrics *requestMetrics
}

// New checks the options and builds the server's handler.
func New(opts Options) (*Server, error) {
	var problems []string
	if opts.Store == nil {
		problems = append(problems, "Store is required")
	}
	if opts.Operations == nil {
		problems = append(problems, "Operations is required")
	}
	if len(opts.Apps) == 0 {
		problems = append(problems, "Apps: at least one configured app is required")
	}
	s := &Server{opts: opts, now: opts.Now, log: opts.Logger}
	for i, t := range opts.Tokens {
		if t == "" {
			problems = append(problems, fmt.Sprintf("Tokens[%d] is empty", i))
			continue
		}
		s.tokens = append(s.tokens, sha256.Sum256([]byte(t)))
	}
	if len(opts.Tokens) == 0 {
		problems = append(problems, "Tokens: at least one bearer token is required (admin.tokens_env, default TAGCAST_ADMIN_TOKENS)")
	}
	if opts.MaxBodyBytes < 0 {
		problems = append(problems, fmt.Sprintf("MaxBodyBytes must not be negative, got %d", opts.MaxBodyBytes))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("admin: %d invalid options: %v", len(problems), problems)
	}
	if s.opts.MaxBodyBytes == 0 {
		s.opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.opts.ShutdownTimeout == 0 {
		s.opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if s.opts.Gatherer == nil {
		s.opts.Gatherer = prometheus.DefaultGatherer
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.opts.Apps = slices.Clone(opts.Apps)
	if opts.Registerer != nil {
		m, err := newRequestMetrics(opts.Registerer)
		if err != nil {
			return nil, fmt.Errorf("admin: metrics: %w", err)
		}
		s.metrics = m
	}
	s.handler = s.routes()
	return s, nil
}

// Handler is the whole API: access log, panic recovery, auth, body limit and
// the routes.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on Options.Addr and serves until ctx is done, then shuts down
// gracefully (in-flight requests finish within ShutdownTimeout).
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.opts.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down gracefully. It
// closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.Info().Str("addr", ln.Addr().String()).Msg("admin API listening")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("admin: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("admin: serve: %w", serr)
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("admin: graceful shutdown within %s: %w", s.opts.ShutdownTimeout, err)
	}
	s.log.Info().Msg("admin API stopped")
	return nil
}
