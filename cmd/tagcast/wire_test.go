package main

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/queue"
	"github.com/tagcast/tagcast/quota"
	"github.com/tagcast/tagcast/scheduler"
)

func TestRedisClientFromURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url                  string
		addr, user, password string
		db                   int
		tlsServerName        string
		network              string
	}{
		{url: "redis://127.0.0.1:6390/2", addr: "127.0.0.1:6390", db: 2, network: "tcp"},
		{url: "rediss://u:p%40ss@cache.example:6380/1", addr: "cache.example:6380", user: "u", password: "p@ss", db: 1, tlsServerName: "cache.example", network: "tcp"},
		{url: "redis-socket:///run/redis.sock?db=3", addr: "/run/redis.sock", db: 3, network: "unix"},
		// Sentinel: the URL's credentials are the master's.
		{url: "redis-sentinel://m:mpw@s1:26379,s2/4?master=main&sentinel_password=spw", user: "m", password: "mpw", db: 4, network: "tcp", addr: "FailoverClient"},
	}
	for _, tt := range tests {
		target, err := config.ParseRedisURL(tt.url)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		for _, ctxTimeouts := range []bool{false, true} {
			c := redisClient(target, ctxTimeouts)
			rc, ok := c.(*redis.Client)
			if !ok {
				t.Fatalf("%s: %T", tt.url, c)
			}
			if o := rc.Options(); o.ContextTimeoutEnabled != ctxTimeouts {
				t.Errorf("%s: ContextTimeoutEnabled %v, want %v", tt.url, o.ContextTimeoutEnabled, ctxTimeouts)
			}
			_ = c.Close()
		}
		c := redisClient(target, false)
		rc := c.(*redis.Client)
		o := rc.Options()
		if o.Addr != tt.addr || o.Username != tt.user || o.Password != tt.password || o.DB != tt.db || o.Network != tt.network {
			t.Errorf("%s: addr %q user %q password %q db %d network %q", tt.url, o.Addr, o.Username, o.Password, o.DB, o.Network)
		}
		switch {
		case tt.tlsServerName == "" && o.TLSConfig != nil:
			t.Errorf("%s: TLS without rediss://", tt.url)
		case tt.tlsServerName != "" && (o.TLSConfig == nil || o.TLSConfig.ServerName != tt.tlsServerName):
			t.Errorf("%s: TLS config %+v", tt.url, o.TLSConfig)
		}
		_ = c.Close()
	}
}

// reconcileDeps is what a reconcile loop runs on: a throwaway Redis and a
// migrated in-memory store.
func reconcileDeps(t *testing.T) (*redis.Client, *sqlstore.Store) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Redis(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := sqlstore.Open(context.Background(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rdb, st
}

// TestReconcileLoopRegistersTheQueue: after a FLUSHALL the loop's first
// pass puts the queue back into asynq's queue set.
func TestReconcileLoopRegistersTheQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, st := reconcileDeps(t)
	r, err := scheduler.NewReconciler(scheduler.ReconcilerConfig{
		Store: st, Queue: asynq.NewClientFromRedisClient(rdb), Inspector: asynq.NewInspectorFromRedisClient(rdb), Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := queue.Register(ctx, rdb, queue.DefaultQueue); err != nil {
		t.Fatal(err)
	}
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	registered := func() bool {
		ok, err := rdb.SIsMember(ctx, queue.AllQueuesKey, queue.DefaultQueue).Result()
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if registered() {
		t.Fatal("queue still registered after FLUSHALL")
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- reconcileLoop(lctx, r, rdb, newDemoClock(time.Now()), time.Hour, zerolog.Nop()) }()
	waitFor(t, "queue registered", 10*time.Second, registered)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDemoClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	c := newDemoClock(start)
	if d := c.Now().Sub(start); d < 0 || d > time.Minute {
		t.Fatalf("Now = %s, want about %s", c.Now(), start)
	}
	// A jump wakes a waiter at once, long before its real-time bound.
	woke := make(chan bool, 1)
	go func() {
		ok, _ := c.Wait(context.Background(), start.Add(time.Hour), time.Minute)
		woke <- ok
	}()
	after := c.After(30 * time.Minute)
	c.Jump(time.Hour)
	select {
	case ok := <-woke:
		if !ok {
			t.Error("Wait reports the instant not reached after the jump")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait not woken by the jump")
	}
	select {
	case at := <-after:
		if at.Before(start.Add(time.Hour)) {
			t.Errorf("After delivered %s", at)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("After not woken by the jump")
	}
	// The real-time bound; and a cancelled wait.
	if ok, err := c.Wait(context.Background(), c.Now().Add(time.Hour), 10*time.Millisecond); ok || err != nil {
		t.Errorf("bounded Wait = %v, %v; want false, nil", ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := c.Wait(ctx, c.Now().Add(time.Hour), time.Minute); ok || err == nil {
		t.Errorf("cancelled Wait = %v, %v", ok, err)
	}
	c.Jump(-time.Hour) // never backwards
	if c.Now().Before(start.Add(time.Hour)) {
		t.Error("a negative jump moved the clock back")
	}
}

// TestQuotaMarginCoversTheSlowestCall: a push reaches the service up to the
// app's timeout after its reservation, so a reservation must keep counting
// at least that long past its window, or the guard frees a slot the service
// still counts (a 429).
func TestQuotaMarginCoversTheSlowestCall(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	if got := quotaMargin(cfg); got != quota.DefaultMargin {
		t.Errorf("no apps: margin %s, want %s", got, quota.DefaultMargin)
	}
	fast, slow := config.DefaultApp(), config.DefaultApp()
	fast.Timeout, slow.Timeout = 2*time.Second, 30*time.Second
	cfg.Apps = []config.App{fast, slow}
	if got := quotaMargin(cfg); got != 35*time.Second {
		t.Errorf("slowest app timeout 30s: margin %s, want 35s", got)
	}
	cfg.Apps = []config.App{fast}
	if got := quotaMargin(cfg); got != quota.DefaultMargin {
		t.Errorf("fast app: margin %s, want the default %s", got, quota.DefaultMargin)
	}
}

// TestStorePoolFollowsConfig: database.max_open_conns sizes the PostgreSQL
// pool of the process.
func TestStorePoolFollowsConfig(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Database.URL = testenv.Postgres(t)
	cfg.Database.MaxOpenConns = 7
	d := &deps{cfg: cfg, log: zerolog.Nop()}
	t.Cleanup(func() { _ = d.close() })
	if err := d.buildStore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := d.store.DB().Stats().MaxOpenConnections; got != 7 {
		t.Errorf("PostgreSQL pool = %d connections, want 7 (database.max_open_conns)", got)
	}
}

// The prompt client (host boards, /readyz) ends a call at its context's
// deadline on a Redis that accepts and never answers. Was: /readyz pinged
// with the shared client, which waits out go-redis's own read timeout and
// retries (some 13 s) whatever the probe's deadline.
func TestPromptRedisEndsAtTheContextsDeadline(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn // frozen: read nothing, answer nothing
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	target, err := config.ParseRedisURL("redis://" + ln.Addr().String() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	c := redisClient(target, true)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx).Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ping of a frozen Redis: %v; want the context's deadline", err)
	}
}
