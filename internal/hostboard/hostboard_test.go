package hostboard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/internal/hostboard"
	"github.com/tagcast/tagcast/internal/testenv"
	"github.com/tagcast/tagcast/pushapi"
)

// host is a push service host that answers every call with status and
// body, and counts the calls.
type host struct {
	*httptest.Server
	calls atomic.Int64
}

func newHost(t *testing.T, status int, body string) *host {
	t.Helper()
	h := &host{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(h.Close)
	return h
}

func pushRequest() *pushapi.Request {
	return &pushapi.Request{
		Platform:     []string{"ios", "android"},
		FromUserID:   "system",
		Audience:     pushapi.Audience{IsToAll: true},
		Message:      &pushapi.Message{ObjectName: "RC:TxtMsg", Content: `{"content":"hello"}`},
		Notification: &pushapi.Notification{Alert: "hello"},
	}
}

// process is one tagcast process's view: its own Redis connection and its
// own push client of the app "main".
func process(t *testing.T, addr string, hosts ...string) (*pushapi.Client, *hostboard.Board) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	board := hostboard.New(rdb, "main")
	c, err := pushapi.NewClient(pushapi.ClientConfig{
		AppKey: "appkey", AppSecret: pushapi.NewSecret("secret"), Hosts: hosts,
		Timeout: 5 * time.Second, Board: board,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, board
}

// Two processes on one Redis: the primary's 500 to the first moves the
// second's calls to the backup; the second never calls the primary.
func TestProcessesShareTheFailover(t *testing.T) {
	t.Parallel()
	srv := testenv.Redis(t)
	primary := newHost(t, http.StatusInternalServerError, `{"code":1000,"errorMessage":"internal"}`)
	backup := newHost(t, http.StatusOK, `{"code":200,"id":"m1","messageUID":"m1"}`)
	first, board := process(t, srv.Addr, primary.URL, backup.URL)
	second, _ := process(t, srv.Addr, primary.URL, backup.URL)
	ctx := context.Background()

	if _, err := first.Push(ctx, pushRequest()); pushapi.Classify(err) != pushapi.OutcomeRetry {
		t.Fatalf("a 500 on the primary: %v, want a retry", err)
	}
	if h, err := board.Active(ctx); err != nil || h != backup.URL {
		t.Fatalf("the board names %q (%v), want the backup %s", h, err, backup.URL)
	}
	for range 2 {
		if _, err := second.Push(ctx, pushRequest()); err != nil {
			t.Fatalf("the second process's push: %v", err)
		}
	}
	if p, b := primary.calls.Load(), backup.calls.Load(); p != 1 || b != 2 {
		t.Errorf("calls: primary %d, backup %d; want 1 (the first process's) and 2", p, b)
	}
}

// Move is a compare-and-set: an empty board names the primary; a move from
// a host the board no longer names changes nothing.
func TestMove(t *testing.T) {
	t.Parallel()
	srv := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	const p, b, old = "https://api.example", "https://api-b.example", "https://api.old.example"
	hosts := []string{p, b}
	ctx := context.Background()
	board := hostboard.New(rdb, "main")
	steps := []struct {
		from, to, want string
		before         string // set the board first, when not ""
	}{
		{from: b, to: p, want: ""}, // the board names nothing, the primary: not from the backup
		{from: p, to: b, want: b},  // the primary failed
		{from: p, to: b, want: b},  // a second process's failure on the primary: no change
		{from: b, to: p, want: p},  // the backup failed
		{from: b, to: p, want: p},  // again: no change
		{from: p, to: b, want: b},  // the primary, named, failed
		// A board written with other hosts (the app's hosts changed) names
		// the primary to this client: a failure of the primary moves it,
		// one of the backup does not.
		{before: old, from: b, to: p, want: old},
		{from: p, to: b, want: b},
	}
	for i, s := range steps {
		if s.before != "" {
			if err := rdb.Set(ctx, hostboard.Prefix+"main", s.before, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := board.Move(ctx, s.from, s.to, hosts); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, err := board.Active(ctx)
		if err != nil || got != s.want {
			t.Fatalf("step %d (move %s to %s): board names %q (%v), want %q", i, s.from, s.to, got, err, s.want)
		}
	}
	if n, err := rdb.Exists(ctx, hostboard.Prefix+"other").Result(); err != nil || n != 0 {
		t.Errorf("another app's board: exists %d (%v), want untouched", n, err)
	}
}
