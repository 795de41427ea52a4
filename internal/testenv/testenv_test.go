package testenv

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	if os.Getenv(selfTestEnv) != "" {
		os.Exit(selfHelper(os.Getenv(selfTestEnv)))
	}
	Main(m)
}

func connectPG(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestPostgresDatabasesAreIsolated(t *testing.T) {
	ctx := context.Background()
	urlA, urlB := Postgres(t), Postgres(t)
	if urlA == urlB {
		t.Fatalf("two calls returned the same database %s", urlA)
	}
	for _, u := range []string{urlA, urlB} {
		if !strings.HasPrefix(u, "postgres://") || strings.Contains(u, ":5432/") {
			t.Fatalf("URL %q: want postgres:// on a throwaway port", u)
		}
	}
	a, b := connectPG(t, urlA), connectPG(t, urlB)
	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatalf("create table in A: %v", err)
	}
	if _, err := a.Exec(ctx, "INSERT INTO only_in_a VALUES (1)"); err != nil {
		t.Fatalf("insert into A: %v", err)
	}
	var exists bool
	if err := b.QueryRow(ctx, "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatalf("query B: %v", err)
	}
	if exists {
		t.Fatal("table created in database A is visible in database B")
	}
	var n int
	if err := a.QueryRow(ctx, "SELECT count(*) FROM only_in_a").Scan(&n); err != nil || n != 1 {
		t.Fatalf("count in A = %d, %v; want 1", n, err)
	}
}

func TestPostgresDatabaseDroppedAtCleanup(t *testing.T) {
	var url string
	t.Run("inner", func(t *testing.T) { url = Postgres(t) })
	name := url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")]
	admin := connectPG(t, strings.Replace(url, "/"+name+"?", "/postgres?", 1))
	var n int
	if err := admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

func TestDatabaseName(t *testing.T) {
	got := databaseName("TestX/sub case: "+strings.Repeat("long", 30), 12)
	if len(got) > 63 || !strings.HasPrefix(got, "t12_testx_sub_case_") {
		t.Fatalf("databaseName = %q (%d bytes)", got, len(got))
	}
}

func redisClient(t *testing.T, s *RedisServer) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatalf("parse %s: %v", s.URL(), err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisServersAreIndependent(t *testing.T) {
	ctx := context.Background()
	s1, s2 := Redis(t), Redis(t)
	if s1.Addr == s2.Addr || strings.HasSuffix(s1.Addr, ":6379") {
		t.Fatalf("addresses %s and %s: want two distinct throwaway ports", s1.Addr, s2.Addr)
	}
	c1, c2 := redisClient(t, s1), redisClient(t, s2)
	if err := c1.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c2.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("key set on server 1 read on server 2: err = %v, want redis.Nil", err)
	}
}

func TestRedisFlushKillRestart(t *testing.T) {
	ctx := context.Background()
	s := Redis(t)
	c := redisClient(t, s)
	mustSet := func() {
		t.Helper()
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
	}
	mustBeEmpty := func(step string) {
		t.Helper()
		n, err := c.DBSize(ctx).Result()
		if err != nil || n != 0 {
			t.Fatalf("after %s: DBSIZE = %d, %v; want 0", step, n, err)
		}
	}

	mustSet()
	s.Flush(t)
	mustBeEmpty("Flush")

	mustSet()
	s.Kill(t)
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded after Kill")
	}
	s.Restart(t)
	mustBeEmpty("Kill+Restart")

	mustSet()
	s.Restart(t) // restart of a running server
	mustBeEmpty("Restart")
}
