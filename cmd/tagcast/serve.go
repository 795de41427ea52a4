package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/tagcast/tagcast/admin"
	"github.com/tagcast/tagcast/admin/monitoring"
	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/scheduler"
	"github.com/tagcast/tagcast/worker"
)

// roleSet names the long-running roles one process runs.
type roleSet struct {
	scheduler bool // the scheduler and the reconciler
	worker    bool
	api       bool
}

func (r roleSet) String() string {
	switch r {
	case roleSet{true, true, true}:
		return "serve"
	case roleSet{scheduler: true}:
		return "scheduler"
	case roleSet{worker: true}:
		return "worker"
	case roleSet{api: true}:
		return "api"
	}
	return fmt.Sprintf("%+v", struct{ Scheduler, Worker, API bool }{r.scheduler, r.worker, r.api})
}

// roleOptions are what the demo and tests change of a process; production
// commands leave them zero.
type roleOptions struct {
	// listener is the admin API's listener; nil listens on admin.addr.
	listener net.Listener
	// reconcileInterval defaults to scheduler.DefaultReconcileInterval.
	reconcileInterval time.Duration
	// queueOptions of the run tasks (zero: queue.DefaultOptions).
	queueOptions queue.Options
	// delayedTaskCheck is the worker's asynq forwarder interval (zero:
	// worker's default).
	delayedTaskCheck time.Duration
	// lookahead is the scheduler's (zero: twice its interval).
	lookahead time.Duration
}

// process is a running set of roles on its dependencies.
type process struct {
	d     *deps
	roles roleSet
	// adminURL is the admin API's base URL (with the api role).
	adminURL string
	// metricsURL is the /metrics URL of a process without the api role
	// serving metrics.addr.
	metricsURL string
	// registry holds the process's metrics (served by the api role).
	registry *prometheus.Registry
	// metrics are the worker's metrics on registry (workerMetrics), shared
	// by the worker and the reconciler.
	metrics *worker.Metrics

	stops []closer   // role parts, in start order
	fatal chan error // a part that stopped by itself
}

// startProcess builds the core dependencies and starts the roles in order:
// scheduler and reconciler, worker, admin API. On error everything started
// is stopped and released.
func startProcess(ctx context.Context, d *deps, roles roleSet, opts roleOptions) (p *process, err error) {
	p = &process{d: d, roles: roles, registry: prometheus.NewRegistry(), fatal: make(chan error, 4)}
	defer func() {
		if err != nil {
			_ = p.stop() // each part's error is logged; the start's error is the one returned
			_ = d.close()
		}
	}()
	shared := roles != roleSet{true, true, true}
	if err := d.buildCore(ctx, shared); err != nil {
		return p, err
	}
	if err := queue.Register(ctx, d.rdb, queue.DefaultQueue); err != nil {
		return p, err
	}
	// asynq's client and inspector on the shared connection: closing them
	// would be refused, the Redis client is closed with the dependencies.
	enq := asynq.NewClientFromRedisClient(d.rdb)
	inspector := asynq.NewInspectorFromRedisClient(d.rdb)
	if d.storeID != "" {
		// A Redis flushed or restarted empty loses the store's mark:
		// put it back, and stop if another store took the database.
		p.goPart("redis mark", d.keepRedisMark)
	}
	if check := d.guardLockCheck; check != nil {
		// A lock lost with its PostgreSQL session (a restart, a fail-over,
		// a proxy dropping the connection) may be taken by a process on
		// another quota guard: stop rather than send beside it.
		p.goPart("quota guard lock", func(ctx context.Context) error { return watchGuardLock(ctx, check) })
	}

	// The HTTP servers are built and their ports bound first: a start that
	// fails there (a port taken, no admin token) must fail before the
	// scheduler claims a campaign or the worker takes a task. They serve
	// last, so that a stop stops them first.
	var serveHTTP func()
	if roles.api {
		serve, err := p.prepareAPI(ctx, enq, inspector, opts)
		if err != nil {
			return p, err
		}
		serveHTTP = serve
	} else if d.cfg.Metrics.Addr != "" {
		serve, err := p.prepareMetrics(ctx)
		if err != nil {
			return p, err
		}
		serveHTTP = serve
	}
	if roles.scheduler {
		if err := p.startScheduler(enq, inspector, opts); err != nil {
			return p, err
		}
	}
	if roles.worker {
		if err := p.startWorker(opts); err != nil {
			return p, err
		}
	}
	if serveHTTP != nil {
		serveHTTP()
	}
	d.log.Info().Str("roles", roles.String()).Msg("tagcast started")
	return p, nil
}

// goPart runs fn in a goroutine until the part is stopped; the stop step
// cancels it and waits. An error fn returns by itself is fatal.
func (p *process) goPart(name string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var stopErr error // written before done is closed, read after
	go func() {
		defer close(done)
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			err = fmt.Errorf("%s: %w", name, err)
			select {
			case p.fatal <- err: // the first few stop the process; wait reads one
			default:
				// The process is stopping already: a part that failed
				// beside the others must not block (stop waits for it).
				p.d.log.Error().Err(err).Msg("a part stopped")
			}
		} else if err != nil {
			stopErr = err
		}
	}()
	p.stops = append(p.stops, closer{name: name, close: func() error { cancel(); <-done; return stopErr }, quiesce: cancel})
}

func (p *process) startScheduler(enq *asynq.Client, inspector *asynq.Inspector, opts roleOptions) error {
	d := p.d
	m, err := p.workerMetrics()
	if err != nil {
		return err
	}
	s, err := scheduler.New(scheduler.Config{
		Store: d.store, Queue: enq, Inspector: inspector, QueueOptions: opts.queueOptions, Clock: d.clock, Logger: d.log,
		Interval: d.cfg.Scheduler.Interval, Lookahead: opts.lookahead, OnExpiredRun: m.RunExpired,
	})
	if err != nil {
		return err
	}
	interval := opts.reconcileInterval
	if interval <= 0 {
		interval = scheduler.DefaultReconcileInterval
	}
	r, err := scheduler.NewReconciler(scheduler.ReconcilerConfig{
		Store: d.store, Queue: enq, Inspector: inspector, QueueOptions: opts.queueOptions, Clock: d.clock,
		Logger: d.log, Interval: interval, OnStaleSend: m.StaleSend, OnExpiredRun: m.RunExpired,
	})
	if err != nil {
		return err
	}
	p.goPart("scheduler", s.Run)
	p.goPart("reconciler", func(ctx context.Context) error {
		return reconcileLoop(ctx, r, d.rdb, d.clock, interval, d.log)
	})
	return nil
}

// reconcileLoop is the reconciler's loop with one more step: re-register the
// queue in asynq's queue set (lost with a FLUSHALL or an embedded Redis
// restart, after which the Inspector reports "queue not found").
func reconcileLoop(ctx context.Context, r *scheduler.Reconciler, rdb redis.UniversalClient, clock roleClock, every time.Duration, log zerolog.Logger) error {
	log = log.With().Str("component", "reconciler").Logger()
	log.Info().Dur("interval", every).Msg("reconciler started")
	for {
		if err := queue.Register(ctx, rdb, queue.DefaultQueue); err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("register queue")
		}
		// A pass that did work is logged by Tick itself.
		if _, err := r.Tick(ctx); err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("reconcile")
		}
		select {
		case <-ctx.Done():
			log.Info().Msg("reconciler stopped")
			return nil
		case <-clock.After(every):
		}
	}
}

// workerMetrics returns the process's worker metrics, registering them on
// its registry the first time: the worker role and the reconciler (its
// stale sends) share one set, registered once whatever roles run.
func (p *process) workerMetrics() (*worker.Metrics, error) {
	if p.metrics != nil {
		return p.metrics, nil
	}
	m, err := worker.NewMetrics(p.registry)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m.InitSettlers(p.appNames()...) // what the scheduler and the reconciler count too
	p.metrics = m
	return m, nil
}

// appNames are the configured apps' names.
func (p *process) appNames() []string {
	apps := make([]string, 0, len(p.d.cfg.Apps))
	for _, a := range p.d.cfg.Apps {
		apps = append(apps, a.Name)
	}
	return apps
}

func (p *process) startWorker(opts roleOptions) error {
	d := p.d
	m, err := p.workerMetrics()
	if err != nil {
		return err
	}
	m.InitApps(p.appNames()...) // the worker's own series at 0 (only where a worker runs)
	pushers := make(map[string]worker.Pusher, len(d.clients))
	for name, c := range d.clients {
		pushers[name] = c
	}
	w := d.cfg.Worker
	h, err := worker.NewHandler(worker.Deps{
		Store: d.store, Guard: d.guard, Pushers: pushers, Clock: d.clock, Metrics: m,
		Logger: d.log.With().Str("component", "worker").Logger(),
	}, workerConfig(w))
	if err != nil {
		return err
	}
	srv, err := worker.NewServer(d.rdb, h, worker.ServerConfig{
		Concurrency: w.Concurrency, ShutdownTimeout: w.ShutdownTimeout, Queue: opts.queueOptions.Queue,
		DelayedTaskCheckInterval: opts.delayedTaskCheck,
	}, d.log.With().Str("component", "worker").Logger())
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	p.stops = append(p.stops, closer{name: "worker", close: srv.Shutdown, quiesce: srv.Quiesce})
	return nil
}

// workerConfig is the handler's configuration from the worker keys.
func workerConfig(w config.Worker) worker.Config {
	return worker.Config{
		Lease:         w.Lease,
		Backoff:       worker.Backoff{Base: w.Backoff.Base, Cap: w.Backoff.Cap, MaxAttempts: w.Backoff.MaxAttempts},
		InlineWait:    w.InlineWait,
		SnoozeLead:    w.SnoozeLead,
		MaxSnooze:     w.MaxSnooze,
		AttemptBudget: w.AttemptBudget,
		StoreTimeout:  w.StoreTimeout,
	}
}

// registerProcessCollectors adds the Go runtime, process and database pool
// collectors to the process's registry.
func (p *process) registerProcessCollectors() error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(p.d.store.DB(), "tagcast"),
	} {
		if err := p.registry.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// startMetrics serves /metrics on metrics.addr for a process without the
// admin API (tagcast worker, tagcast scheduler), so every worker's send
// outcomes, API latency and quota gauges can be scraped.
// prepareMetrics binds metrics.addr and returns what starts serving on it.
func (p *process) prepareMetrics(ctx context.Context) (func(), error) {
	if err := p.registerProcessCollectors(); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", p.d.cfg.Metrics.Addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.addr: %w", err)
	}
	p.d.onClose("metrics listener", func() error { return closedIsFine(ln.Close()) })
	return func() { p.serveMetrics(ln) }, nil
}

func (p *process) serveMetrics(ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	p.metricsURL = "http://" + ln.Addr().String() + "/metrics"
	p.d.log.Info().Str("addr", ln.Addr().String()).Msg("serving /metrics")
	p.goPart("metrics", func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(shutdownCtx)
		}
	})
}

// closedIsFine drops the error of closing a listener its server closed
// already.
func closedIsFine(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// prepareAPI builds the admin API and binds admin.addr, and returns what
// starts serving on it.
func (p *process) prepareAPI(ctx context.Context, enq *asynq.Client, inspector *asynq.Inspector, opts roleOptions) (func(), error) {
	d := p.d
	reg := p.registry
	if err := p.registerProcessCollectors(); err != nil {
		return nil, err
	}
	if err := worker.RegisterQueueMetrics(reg, inspector); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	ops, err := scheduler.NewOperations(scheduler.OperationsConfig{
		Store: d.store, Queue: enq, Inspector: inspector, QueueOptions: opts.queueOptions, Clock: d.clock, Logger: d.log,
	})
	if err != nil {
		return nil, err
	}
	tags := make(map[string]admin.TagService, len(d.clients))
	for name, c := range d.clients {
		tags[name] = c
	}
	tokens := make([]string, 0, len(d.cfg.Admin.Tokens))
	for _, t := range d.cfg.Admin.Tokens {
		tokens = append(tokens, t.Reveal())
	}
	ui := monitoring.New(redisConnOpt{make: d.newRedisClient})
	p.stops = append(p.stops, closer{name: "monitoring UI", close: ui.Close})
	rdb, store := d.promptRedis, d.store
	srv, err := admin.New(admin.Options{
		Addr: d.cfg.Admin.Addr, Tokens: tokens, Apps: d.cfg.AppNames(),
		Store: store, Operations: ops, Quota: d.guard, Tags: tags,
		Ready: []admin.Check{
			{Name: "store", Pinger: admin.PingFunc(func(ctx context.Context) error { return store.DB().PingContext(ctx) })},
			{Name: "redis", Pinger: admin.PingFunc(func(ctx context.Context) error { return rdb.Ping(ctx).Err() })},
		},
		Gatherer: reg, Registerer: reg, Monitoring: ui,
		ShutdownTimeout: d.cfg.Worker.ShutdownTimeout, Now: d.clock.Now,
		Logger: d.log.With().Str("component", "admin").Logger(),
	})
	if err != nil {
		return nil, err
	}
	ln := opts.listener
	if ln == nil {
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", d.cfg.Admin.Addr); err != nil {
			return nil, fmt.Errorf("admin.addr: %w", err)
		}
	}
	d.onClose("admin listener", func() error { return closedIsFine(ln.Close()) })
	return func() {
		p.adminURL = "http://" + ln.Addr().String()
		p.goPart("admin API", func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	}, nil
}

// stop stops the roles: first every part stops taking new work at once
// (the worker takes no task and starts no send, the scheduler claims
// nothing more, the admin API takes no request), then each is waited for,
// in reverse order of start (admin API, worker, reconciler, scheduler); the
// caller then closes the dependencies. Waiting for one part (an admin
// request still open, up to worker.shutdown_timeout) while the others went
// on working would let the worker start pushes after the signal, which a
// supervisor's SIGKILL could cut mid-call, and would add the parts'
// timeouts up.
func (p *process) stop() error {
	for i := len(p.stops) - 1; i >= 0; i-- {
		if q := p.stops[i].quiesce; q != nil {
			q()
		}
	}
	var errs []error
	for i := len(p.stops) - 1; i >= 0; i-- {
		s := p.stops[i]
		if err := s.close(); err != nil {
			p.d.log.Error().Err(err).Str("part", s.name).Msg("stopped with an error")
			errs = append(errs, fmt.Errorf("stop %s: %w", s.name, err))
		}
	}
	p.stops = nil
	return errors.Join(errs...)
}

// wait blocks until ctx is done (SIGINT/SIGTERM) or a part fails by itself.
func (p *process) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		p.d.log.Info().Msg("signal received: shutting down")
		return nil
	case err := <-p.fatal:
		p.d.log.Error().Err(err).Msg("a part stopped: shutting down")
		return err
	}
}

// runRoles is the body of the role commands: build, start, wait for the
// signal, stop in reverse order, release in reverse order.
func runRoles(ctx context.Context, g *globals, cfg *config.Config, roles roleSet) error {
	// What the admin API needs is known from the configuration: refused
	// before anything starts (no store file created, no Redis connected).
	if roles.api {
		var problems []string
		if len(cfg.Apps) == 0 {
			problems = append(problems, "apps: at least one app is required (see config.example.yaml)")
		}
		if len(cfg.Admin.Tokens) == 0 {
			problems = append(problems, fmt.Sprintf("admin.tokens_env: %s holds no bearer token; set it to one or more comma-separated tokens",
				cfg.ShownEnv(cfg.Admin.TokensEnv)))
		}
		if len(problems) > 0 {
			return &exitError{code: 1, err: fmt.Errorf("%s: the admin API cannot start:\n  %s", roles, strings.Join(problems, "\n  "))}
		}
	}
	d, err := newDeps(cfg, g.env.stderr, g.env.lookupEnv)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	p, err := startProcess(ctx, d, roles, roleOptions{})
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// A signal during startup (a Redis ping, the migration lock):
			// the graceful stop the help promises, not a failure.
			d.log.Info().Str("roles", roles.String()).Msg("tagcast stopped by a signal before it had started")
			return nil
		}
		return &exitError{code: 1, err: fmt.Errorf("%s: %w", roles, err)}
	}
	runErr := p.wait(ctx)
	stopErr := p.stop()
	closeErr := d.close()
	d.log.Info().Str("roles", roles.String()).Msg("tagcast stopped")
	if err := errors.Join(runErr, stopErr, closeErr); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%s: %w", roles, err)}
	}
	return nil
}

// roleCommand is one of serve, worker, scheduler and api.
func roleCommand(g *globals, use, short, long string, roles roleSet) *cobra.Command {
	var (
		addr        string
		metricsAddr string
		concurrency int
		interval    time.Duration
	)
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(bindFlags(cmd, map[string]string{
				"addr": "admin.addr", "concurrency": "worker.concurrency", "interval": "scheduler.interval",
				"metrics-addr": "metrics.addr",
			}))
			if err != nil {
				return err
			}
			return runRoles(cmd.Context(), g, cfg, roles)
		},
	}
	if roles.api {
		cmd.Flags().StringVar(&addr, "addr", config.DefaultAdminAddr, "admin API listen address (admin.addr)")
	} else {
		cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this host:port (metrics.addr)")
	}
	if roles.worker {
		cmd.Flags().IntVar(&concurrency, "concurrency", config.DefaultWorkerConcurrency, "runs processed at once (worker.concurrency)")
	}
	if roles.scheduler {
		cmd.Flags().DurationVar(&interval, "interval", config.DefaultSchedulerInterval, "how often due campaigns are claimed (scheduler.interval)")
	}
	return cmd
}

// rolesStop says how a role process stops; stopOrder lists its roles in the order they stop.
func rolesStop(stopOrder string) string {
	return "\nSIGINT or SIGTERM stops " + stopOrder + ", then Redis and the store;\nexit 0, or 1 when a part did not stop cleanly (for example a run still\nrecording its outcome when the store stopped answering). A second signal\nends the process at once."
}

func newServeCmd(g *globals) *cobra.Command {
	return roleCommand(g, "serve", "run every role in one process: scheduler, reconciler, worker and admin API",
		`Runs the scheduler and reconciler, the worker and the admin API in one process.
With redis.url empty, it runs an embedded in-process Redis and uses the SQLite
file of database.url: the single-node deployment (it then locks the store, so
no other tagcast process can use it meanwhile). With a Redis URL and a
PostgreSQL URL, it is one replica of a distributed deployment.`+rolesStop("the admin API, the worker, the reconciler and the scheduler"),
		roleSet{scheduler: true, worker: true, api: true})
}

// distributedRole is what the worker, scheduler and api commands say of
// their deployment.
const distributedRole = `
It needs redis.url (the embedded Redis lives inside one process: use serve for a
single node). Start any number of worker and scheduler processes and one or
more api processes on the same Redis and store.`

func newWorkerCmd(g *globals) *cobra.Command {
	return roleCommand(g, "worker", "run a worker: send queued runs through the quota guard",
		"Runs the asynq worker that sends queued runs through the quota guard."+distributedRole+rolesStop("the worker"),
		roleSet{worker: true})
}

func newSchedulerCmd(g *globals) *cobra.Command {
	return roleCommand(g, "scheduler", "run the scheduler and the reconciler",
		"Claims due campaigns, creates their runs and enqueues them; the reconciler re-enqueues runs\nthe queue lost."+
			distributedRole+"\nIts --metrics-addr serves the Go runtime, process and store connection pool (go_sql_*)\nmetrics, the reconciler's tagcast_worker_stale_sends_total and the runs it and the scheduler\nexpired, tagcast_runs_expired_total (tagcast's other metrics are the worker's and the admin API's)."+rolesStop("the reconciler and the scheduler"),
		roleSet{scheduler: true})
}

func newAPICmd(g *globals) *cobra.Command {
	return roleCommand(g, "api", "run the admin HTTP API",
		"Serves the admin HTTP API, /metrics and the monitoring UI."+distributedRole+rolesStop("the admin API"),
		roleSet{api: true})
}
