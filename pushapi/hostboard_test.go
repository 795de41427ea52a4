package pushapi

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// memBoard is a HostBoard in memory, shared by the clients of a test as a
// Redis key is by processes; err, when set, fails every read and move.
type memBoard struct {
	mu    sync.Mutex
	host  string
	moves int
	err   error
}

func (b *memBoard) Active(context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.host, b.err
}

func (b *memBoard) Move(_ context.Context, from, to, primary string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	if b.host == from || (b.host == "" && from == primary) {
		b.host = to
		b.moves++
	}
	return nil
}

func (b *memBoard) named() (string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.host, b.moves
}

func newBoardClient(t *testing.T, board HostBoard, hosts ...string) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{
		AppKey: testAppKey, AppSecret: NewSecret(testSecret), Hosts: hosts,
		Timeout: 5 * time.Second, Now: newFakeClock().Now, UserAgent: "tagcast/test", Board: board,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A 500 on the primary costs the send's quota slot (it may have pushed).
// With a board, the clients of other processes leave the primary at their
// next call instead of each meeting the failure once. Was: each process
// kept its own active host, and a primary's outage cost a slot per worker
// process.
func TestBoardSharesAFailover(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(500, "application/json", `{"code":1000,"errorMessage":"internal"}`))
	board := &memBoard{}
	a := newBoardClient(t, board, primary.URL(), backup.URL())
	b := newBoardClient(t, board, primary.URL(), backup.URL())

	if _, err := a.Push(context.Background(), validRequest()); err == nil {
		t.Fatal("a 500 on the primary: want an error")
	}
	if host, _ := board.named(); host != backup.URL() {
		t.Fatalf("after a's 500 the board names %q, want the backup %s", host, backup.URL())
	}
	for range 3 {
		if _, err := b.Push(context.Background(), validRequest()); err != nil {
			t.Fatalf("b's push: %v", err)
		}
	}
	if p, bk := primary.callCount(), backup.callCount(); p != 1 || bk != 3 {
		t.Errorf("calls: primary %d, backup %d; want 1 (a's) and 3 (b's, none on the failed primary)", p, bk)
	}
	if b.ActiveHost() != backup.URL() {
		t.Errorf("b's active host %s, want the board's, the backup", b.ActiveHost())
	}
}

// A client that has not heard of a move yet fails on the host the others
// left: the board does not move back. Once the backup fails, the board
// names the primary again, and a failure of the primary, named on the board
// or not, moves it on.
func TestBoardStaleFailureDoesNotMoveBack(t *testing.T) {
	t.Parallel()
	const primary, backup = "https://api.example", "https://api-b.example"
	board := &memBoard{host: backup, moves: 1} // moved by another process
	c := newBoardClient(t, board, primary, backup)
	c.hostFailed(context.Background(), 0) // c's call began before the move
	if host, moves := board.named(); host != backup || moves != 1 {
		t.Errorf("a stale failure on the primary: board names %q after %d moves, want the backup after 1", host, moves)
	}
	c.hostFailed(context.Background(), 1)
	if host, _ := board.named(); host != primary {
		t.Errorf("after the backup failed the board names %q, want the primary", host)
	}
	c.hostFailed(context.Background(), 0)
	if host, _ := board.named(); host != backup {
		t.Errorf("after the primary failed again the board names %q, want the backup", host)
	}
}

// A board that does not answer, or names a host the client does not have,
// leaves the client on its own record, which still fails over.
func TestBoardUnreadableUsesOwnRecord(t *testing.T) {
	t.Parallel()
	for name, board := range map[string]*memBoard{
		"error":       {err: errors.New("board down")},
		"other hosts": {host: "https://api.elsewhere.example"},
	} {
		primary, backup := newFakeService(t), newFakeService(t)
		primary.setReply(replyStatus(500, "application/json", `{"code":1000,"errorMessage":"internal"}`))
		c := newBoardClient(t, board, primary.URL(), backup.URL())
		if _, err := c.Push(context.Background(), validRequest()); err == nil {
			t.Fatalf("%s: a 500 on the primary: want an error", name)
		}
		if _, err := c.Push(context.Background(), validRequest()); err != nil {
			t.Fatalf("%s: the next push: %v", name, err)
		}
		if p, b := primary.callCount(), backup.callCount(); p != 1 || b != 1 {
			t.Errorf("%s: calls: primary %d, backup %d; want 1 and 1 (the client's own fail-over)", name, p, b)
		}
	}
}
