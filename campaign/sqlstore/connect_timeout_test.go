package sqlstore

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

func TestWithConnectTimeout(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h/db":                                 "postgres://u:p@h/db?connect_timeout=10",
		"postgres://u@h/db?sslmode=disable":                   "postgres://u@h/db?sslmode=disable&connect_timeout=10",
		"postgres://u@h/db?":                                  "postgres://u@h/db?connect_timeout=10",
		"postgresql://h1:5432,h2:5432/db#x":                   "postgresql://h1:5432,h2:5432/db?connect_timeout=10#x",
		"postgres://u@h/db?connect_timeout=3":                 "postgres://u@h/db?connect_timeout=3",
		"postgres://u@h/db?sslmode=disable&connect_timeout=0": "postgres://u@h/db?sslmode=disable&connect_timeout=0",
	} {
		if got := withConnectTimeout(in); got != want {
			t.Errorf("withConnectTimeout(%q) = %q, want %q", in, got, want)
		}
	}
}

// A PostgreSQL host that accepts the connection and never answers (a hung
// server, a black-holed port) fails Open after the default connect
// timeout; without it, Open (and so every command that opens the store)
// waited for ever. The default is shortened here; the assertion is on the
// error, not on the time taken.
func TestOpenGivesUpOnASilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	old := defaultConnectTimeout
	defaultConnectTimeout = time.Second
	t.Cleanup(func() { defaultConnectTimeout = old })

	// The test's own bound only keeps a regression from hanging the suite.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := Open(ctx, "postgres://tagcast:hunter2@"+l.Addr().String()+"/tagcast?sslmode=disable")
	if err == nil {
		_ = st.Close()
		t.Fatal("Open of a server that never answers succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("Open returned only when the test's own deadline passed: %v", err)
	}
	t.Logf("Open: %v", err)
}
