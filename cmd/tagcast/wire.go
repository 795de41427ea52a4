package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/internal/hostboard"
	"github.com/tagcast/tagcast/internal/simclock"
	"github.com/tagcast/tagcast/migrations"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/quota"
)

// errEmbeddedRedisShared is the refusal of a role that must share Redis with
// other processes while redis.url is empty.
var errEmbeddedRedisShared = errors.New("redis.url is empty: the embedded Redis lives inside one process; run `tagcast serve`, or set redis.url")

// roleClock is the time every part of a process runs on: worker.Clock
// (Now, Wait) and scheduler.Clock (Now, After) at once. Production uses
// wallClock; the demo and the end-to-end tests use a simulated one.
type roleClock interface {
	Now() time.Time
	Wait(ctx context.Context, until time.Time, maxWait time.Duration) (bool, error)
	After(d time.Duration) <-chan time.Time
}

// wallClock is the real clock.
type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (wallClock) Wait(ctx context.Context, until time.Time, maxWait time.Duration) (bool, error) {
	d := time.Until(until)
	if d <= 0 {
		return true, nil
	}
	t := time.NewTimer(min(d, maxWait))
	defer t.Stop()
	select {
	case <-t.C:
		return !time.Now().Before(until), nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// closer is one thing to release at shutdown, named for the log.
type closer struct {
	name  string
	close func() error
	// quiesce, when set, makes a role part stop taking new work at once,
	// without waiting (process.stop calls it on every part before closing
	// any).
	quiesce func()
}

// deps are the dependencies of a tagcast process, built explicitly and in
// order by the build* methods, and released in reverse order by close.
type deps struct {
	cfg   *config.Config
	log   zerolog.Logger
	clock roleClock

	// mr is the embedded Redis (nil with redis.url set).
	mr *miniredis.Miniredis
	// rdb is the shared Redis client every part uses.
	rdb redis.UniversalClient
	// newRedisClient makes a further client to the same Redis, for parts
	// that insist on owning theirs (the monitoring UI).
	newRedisClient func() redis.UniversalClient
	// promptRedis is a client of the same Redis whose calls end at their
	// context's deadline, where go-redis otherwise waits out its own read
	// timeout (3 s) and retries: for the push clients' host boards (a
	// board read must not hold a push call up) and /readyz's ping (a
	// frozen Redis answered not ready after some 13 s, past a probe's
	// timeout). Made by buildRedis, closed with the rest.
	promptRedis redis.UniversalClient

	store *sqlstore.Store
	// storeID is the store's identity, marked in a shared Redis
	// (claimRedis).
	storeID string
	// guardLockCheck tells whether the store's guard lock is still held
	// (nil where it cannot be lost: a flock, or no lock).
	guardLockCheck func(context.Context) error
	// guardAlone: this process must rebuild the shared windows from the
	// ledger at start (forgetShared): set by every start on a shared Redis,
	// as an embedded process may have sent for the store since (lockGuard).
	guardAlone bool
	guard      *quota.Guard
	clients    map[string]*pushapi.Client

	mu      sync.Mutex
	closers []closer // in build order
}

// newDeps starts the dependency list with the logger (log.level, log.format
// on w) and the clock: the simulated one of internal/simclock when the
// environment names its file (tests only; said loudly in the log), else the
// wall clock.
func newDeps(cfg *config.Config, w io.Writer, lookupEnv func(string) (string, bool)) (*deps, error) {
	log, err := newLogger(cfg.Log, w)
	if err != nil {
		return nil, err
	}
	if w == os.Stderr {
		// go-redis prints its own messages (a pool that cannot dial) with
		// the standard library's logger: plain text in a JSON log. Its
		// logger is one per process, so only the process's own log takes
		// it over (tests run many commands in one process, on buffers).
		redis.SetLogger(redisLogger{log: log.With().Str("component", "redis").Logger()})
	}
	d := &deps{cfg: cfg, log: log, clock: wallClock{}}
	if lookupEnv != nil {
		if path, ok := lookupEnv(simclock.EnvVar); ok && path != "" {
			c, err := simclock.Open(path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", simclock.EnvVar, err)
			}
			d.clock = c
			d.onClose("simulated clock", func() error { c.Close(); return nil })
			log.Warn().Str("file", path).Time("now", c.Now()).Msg("SIMULATED CLOCK: time is read from " + simclock.EnvVar + "; for tests only")
		}
	}
	return d, nil
}

// redisLogger writes go-redis's messages to the process's log, as warnings.
type redisLogger struct{ log zerolog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn().Msg(strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}

// newLogger is the zerolog logger of log.level and log.format on w.
func newLogger(cfg config.Log, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log.level: %w", err)
	}
	out := w
	if cfg.Format == config.LogFormatConsole {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.DateTime, NoColor: !isTerminal(w)}
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger(), nil
}

// isTerminal reports whether w is a character device (colours are for
// terminals, not for files and pipes).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// onClose registers a release step; close runs them in reverse order.
func (d *deps) onClose(name string, fn func() error) {
	d.mu.Lock()
	d.closers = append(d.closers, closer{name: name, close: fn})
	d.mu.Unlock()
}

// close releases everything in reverse order of build, logging (not
// returning early on) failures.
func (d *deps) close() error {
	d.mu.Lock()
	cs := d.closers
	d.closers = nil
	d.mu.Unlock()
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := cs[i].close(); err != nil {
			d.log.Error().Err(err).Str("part", cs[i].name).Msg("close")
			errs = append(errs, fmt.Errorf("close %s: %w", cs[i].name, err))
			continue
		}
		d.log.Debug().Str("part", cs[i].name).Msg("closed")
	}
	return errors.Join(errs...)
}

// buildRedis connects the shared Redis client: an embedded in-process Redis
// when redis.url is empty (refused when shared is set: a role that meets
// other processes in Redis cannot use a Redis inside itself), else the
// configured one.
func (d *deps) buildRedis(ctx context.Context, shared bool) error {
	if d.cfg.Redis.Embedded() {
		if shared {
			return errEmbeddedRedisShared
		}
		return d.buildEmbeddedRedis()
	}
	t, err := config.ParseRedisURL(d.cfg.Redis.URL)
	if err != nil {
		return fmt.Errorf("redis.url: %w", err) // never quotes the URL
	}
	d.newRedisClient = func() redis.UniversalClient { return redisClient(t, false) }
	d.rdb = d.newRedisClient()
	d.onClose("redis client", d.rdb.Close)
	d.promptRedis = redisClient(t, true)
	d.onClose("redis client (prompt)", d.promptRedis.Close)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.rdb.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("redis (%s %s): %w", t.Scheme, strings.Join(t.Addrs, ","), err)
	}
	d.log.Info().Str("scheme", t.Scheme).Strs("addrs", t.Addrs).Int("db", t.DB).Msg("redis connected")
	switch err := quota.CheckEviction(pctx, d.rdb); {
	case errors.Is(err, quota.ErrEvictionUnknown):
		d.log.Warn().Err(err).Msg("redis: eviction settings unknown: tagcast needs maxmemory-policy noeviction (or no maxmemory), or evicted quota windows could let a push over quota")
	case err != nil:
		return err
	}
	return nil
}

// buildEmbeddedRedis starts miniredis on a loopback port, with a goroutine
// advancing its clock so keys with a TTL expire.
func (d *deps) buildEmbeddedRedis() error {
	mr := miniredis.NewMiniRedis()
	// It listens on loopback, where any local user could connect and
	// rewrite the quota windows: a random password, known only to this
	// process, keeps them out.
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("embedded redis: password: %w", err)
	}
	password := hex.EncodeToString(secret)
	mr.RequireAuth(password)
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return fmt.Errorf("embedded redis: %w", err)
	}
	d.mr = mr
	d.onClose("embedded redis", func() error { mr.Close(); return nil })
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		const step = 250 * time.Millisecond
		t := time.NewTicker(step)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				mr.FastForward(step)
			}
		}
	}()
	d.onClose("embedded redis clock", func() error { close(stop); <-done; return nil })
	addr := mr.Addr()
	d.newRedisClient = func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: addr, Password: password}) }
	d.rdb = d.newRedisClient()
	d.onClose("redis client", d.rdb.Close)
	d.promptRedis = redis.NewClient(&redis.Options{Addr: addr, Password: password, ContextTimeoutEnabled: true})
	d.onClose("redis client (prompt)", d.promptRedis.Close)
	d.log.Info().Str("addr", addr).Msg("embedded redis started (in-process; its data lives and dies with this process)")
	return nil
}

// redisClient builds a go-redis client for t: a single node (TLS for
// rediss://, a unix socket for redis-socket://) or a Sentinel fail-over
// client. For Sentinel, the URL's user and password authenticate to the
// master and sentinel_password to the sentinels (see config.RedisTarget).
func redisClient(t *config.RedisTarget, ctxTimeouts bool) redis.UniversalClient {
	if t.Scheme == "redis-sentinel" {
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:            t.MasterName,
			SentinelAddrs:         slices.Clone(t.Addrs),
			SentinelPassword:      t.SentinelPassword.Reveal(),
			Username:              t.Username,
			Password:              t.Password.Reveal(),
			DB:                    t.DB,
			ContextTimeoutEnabled: ctxTimeouts,
		})
	}
	o := &redis.Options{Addr: t.Addrs[0], Username: t.Username, Password: t.Password.Reveal(), DB: t.DB, ContextTimeoutEnabled: ctxTimeouts}
	if t.Scheme == "redis-socket" {
		o.Network = "unix"
	}
	if t.TLS {
		host, _, err := net.SplitHostPort(t.Addrs[0])
		if err != nil {
			host = t.Addrs[0]
		}
		o.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return redis.NewClient(o)
}

// redisConnOpt hands asynq (the monitoring UI) clients of its own to the
// same Redis; it closes them itself.
type redisConnOpt struct{ make func() redis.UniversalClient }

// MakeRedisClient implements asynq.RedisConnOpt.
func (o redisConnOpt) MakeRedisClient() any { return o.make() }

var _ asynq.RedisConnOpt = redisConnOpt{}

// buildStore opens the store, takes the lock that keeps the store's
// processes on one quota guard (lockGuard), migrates the store (idempotent;
// on PostgreSQL goose holds a lock, so replicas may start together),
// records the configuration's App Keys and marks the shared Redis database
// as this store's (claimRedis), in that order: a process the lock refuses
// writes nothing to the store. (It used to migrate and record its App Keys
// first: a refused `push send` whose file gave an app another key replaced
// the app's record, and the rename check no longer knew the app's real key.)
func (d *deps) buildStore(ctx context.Context) error {
	st, err := sqlstore.Open(ctx, d.cfg.Database.URL)
	if err != nil {
		return err // sqlstore redacts the URL's password
	}
	d.store = st
	d.onClose("store", st.Close)
	st.SetClaimant(sqlstore.ClaimantName(os.Getpid()))
	if st.Dialect() == migrations.Postgres {
		st.DB().SetMaxOpenConns(d.cfg.Database.MaxOpenConns)
		st.DB().SetMaxIdleConns(d.cfg.Database.MaxOpenConns)
	}
	if err := d.lockGuard(ctx); err != nil {
		return err
	}
	// Replicas started together migrate one at a time: say so if this one
	// waits, or its silence looks like a hang.
	slow := time.AfterFunc(2*time.Second, func() {
		d.log.Info().Msg("store: still migrating after 2s (waiting for another tagcast process's migration lock, or applying migrations)")
	})
	err = st.Migrate(ctx)
	slow.Stop()
	if err != nil {
		return fmt.Errorf("migrate the store: %w", err)
	}
	// The quota counts per App Key, the guard and the store per app name:
	// an app renamed in the configuration is refused until the store is
	// renamed with it (migrate rename-app).
	keys := make(map[string]string, len(d.cfg.Apps))
	for _, a := range d.cfg.Apps {
		keys[a.Name] = a.AppKey
	}
	if err := st.RecordAppKeys(ctx, keys); err != nil {
		return err
	}
	if err := d.claimRedis(ctx); err != nil {
		return err
	}
	ev := d.log.Info().Str("driver", d.cfg.Database.Driver())
	if f := st.SQLiteFile(); f != "" {
		// A relative path is the working directory's: say which file it is.
		if abs, err := filepath.Abs(f); err == nil {
			f = abs
		}
		ev = ev.Str("file", f)
	}
	ev.Msg("store ready")
	return nil
}

// buildGuard builds the quota guard: each app's quota, the store as ledger.
func (d *deps) buildGuard() error {
	policies := make(map[string]quota.Policy, len(d.cfg.Apps))
	for _, a := range d.cfg.Apps {
		policies[a.Name] = quotaPolicy(a.Quota)
	}
	g, err := quota.New(quota.Options{
		Client: d.rdb, Ledger: d.store, Apps: policies, Now: d.clock.Now, Margin: quotaMargin(d.cfg),
		Logger: d.log.With().Str("component", "quota").Logger(),
	})
	if err != nil {
		return err
	}
	d.guard = g
	return nil
}

// quotaPolicy is the guard's policy of an app's configured quota.
func quotaPolicy(q config.Quota) quota.Policy {
	return quota.Policy{
		Hourly: q.Hourly, Daily: q.Daily,
		HourWindow: quota.HourWindow(q.HourWindow), DayWindow: quota.DayWindow(q.DayWindow),
		Timezone: q.Timezone,
	}
}

// buildClients builds one push service client per app, each keeping its
// active host on the app's board in Redis (shared with the other processes
// on the same Redis).
func (d *deps) buildClients() error {
	d.clients = make(map[string]*pushapi.Client, len(d.cfg.Apps))
	for i := range d.cfg.Apps {
		a := &d.cfg.Apps[i]
		cc := a.ClientConfig()
		cc.Now = d.clock.Now
		cc.Board = hostboard.New(d.promptRedis, a.Name)
		c, err := pushapi.NewClient(cc)
		if err != nil {
			return fmt.Errorf("apps[%d] (%s): %w", i, a.Name, err)
		}
		d.clients[a.Name] = c
		d.onClose("push client "+a.Name, func() error { c.CloseIdleConnections(); return nil })
	}
	return nil
}

// buildCore builds what every role needs after the logger: Redis, the store
// (the guard lock taken before anything is written to it, and the Redis
// database's mark: buildStore), the quota guard and the push clients, in
// that order.
func (d *deps) buildCore(ctx context.Context, sharedRedis bool) error {
	if err := d.buildRedis(ctx, sharedRedis); err != nil {
		return err
	}
	if err := d.buildStore(ctx); err != nil {
		return err
	}
	if err := d.buildGuard(); err != nil {
		return err
	}
	if err := d.forgetShared(ctx); err != nil {
		return err
	}
	return d.buildClients()
}

// quotaMargin is how long past its window a reservation keeps counting. The
// service stamps a push when it arrives, which can be as late as the
// reservation plus the way to the call (the claim, up to the reservation's
// UseBy, quota.MaxUseBy, and the checks after it: config.BeforeCall) plus
// the whole call (at most the app's timeout, which bounds a fail-over hop
// too): the margin covers the slowest app, and is never less than
// quota.DefaultMargin.
func quotaMargin(cfg *config.Config) time.Duration {
	margin := quota.DefaultMargin
	for _, a := range cfg.Apps {
		margin = max(margin, a.Timeout+config.BeforeCall)
	}
	return margin
}
