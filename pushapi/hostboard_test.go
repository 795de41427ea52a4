package pushapi

import (
	"context"
	"errors"
	"slices"
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

func (b *memBoard) Move(_ context.Context, from, to string, hosts []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	if b.host == from || (!slices.Contains(hosts, b.host) && from == hosts[0]) {
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

// writeFailsBoard is a board that can be read but not moved: a Move that
// times out (the 1 s cap), a READONLY answer from a demoted master, a
// dropped connection. Reads answer what the board holds.
type writeFailsBoard struct {
	mu   sync.Mutex
	host string
}

func (b *writeFailsBoard) Active(context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.host, nil
}

func (b *writeFailsBoard) Move(context.Context, string, string, []string) error {
	return errors.New("READONLY You can't write against a read only replica")
}

// A 500 on the primary (the send keeps its quota slot: it may have pushed)
// whose board move fails must not send this same client's next call back to
// the primary: until its move lands, the board names a host this client
// saw fail, and its own record decides. Was: startHost overwrote the own
// record with the board's stale "" (the primary), and the next send spent
// a second slot on the failed host (found by a review).
func TestBoardMoveErrorKeepsTheClientOffTheFailedHost(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(500, "application/json", `{"code":1000,"errorMessage":"internal"}`))
	c := newBoardClient(t, &writeFailsBoard{}, primary.URL(), backup.URL())

	if _, err := c.Push(context.Background(), validRequest()); err == nil {
		t.Fatal("a 500 on the primary: want an error")
	}
	_, err := c.Push(context.Background(), validRequest())
	if p, b := primary.callCount(), backup.callCount(); p != 1 || b != 1 || err != nil {
		t.Errorf("after the primary's 500 (board move failed): calls primary %d, backup %d, second push err %v; "+
			"want 1 and 1 (the client saw the primary fail and stays on the backup)", p, b, err)
	}
}

// A board left naming a host no current config has (the app's data_center
// or hosts changed; the key has no expiry) counts as naming the primary:
// the first failure of the primary moves it, and every process leaves the
// failed host. Was: Move replaced only the host it was given or an empty
// board, startHost ignored the foreign name, and every process (and every
// push send) met the primary's 500 itself, a quota slot each, for good
// (found by a review).
func TestBoardNamingAnotherConfigsHostIsTakenOver(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(500, "application/json", `{"code":1000,"errorMessage":"internal"}`))
	// Written by the processes before the app's hosts were changed.
	board := &memBoard{host: "https://api-b.rong-api.com"}
	a := newBoardClient(t, board, primary.URL(), backup.URL())
	b := newBoardClient(t, board, primary.URL(), backup.URL())

	if _, err := a.Push(context.Background(), validRequest()); err == nil {
		t.Fatal("a 500 on the primary: want an error")
	}
	_, err := b.Push(context.Background(), validRequest())
	host, _ := board.named()
	if p, bk := primary.callCount(), backup.callCount(); p != 1 || bk != 1 || err != nil {
		t.Errorf("after process a met the primary's 500: board names %q; process b: calls primary %d, backup %d, err %v; "+
			"want the board on the backup and b's push on it (1 and 1)", host, p, bk, err)
	}
}

// deadlineBoard is a HostBoard that answers at once and records the
// deadline of the context each read and move was given.
type deadlineBoard struct {
	mu            sync.Mutex
	readDeadline  time.Time
	moveDeadlines []time.Time
}

func (b *deadlineBoard) Active(ctx context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readDeadline, _ = ctx.Deadline()
	return "", nil
}

func (b *deadlineBoard) Move(ctx context.Context, _, _ string, _ []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	dl, _ := ctx.Deadline()
	b.moveDeadlines = append(b.moveDeadlines, dl)
	return nil
}

// ClientConfig.Timeout "bounds a whole call (both hosts of a fail-over,
// reading the response body included), whatever the server does", and the
// configuration's timing rules rely on it (worker.lease, attempt_budget,
// shutdown_timeout): the board's read and move run within the call's
// deadline. Was (for a moment this session): the move after a host's
// failure ran on context.WithoutCancel with its own 250 ms, and could end
// the call that much after its Timeout (found by a review).
//
// Deterministic: with a Timeout under boardTimeout, the board read's
// context carries the call's own deadline; every context the call hands
// the board must end by it.
func TestBoardMoveStaysWithinTheCallTimeout(t *testing.T) {
	t.Parallel()
	primary, backup := newFakeService(t), newFakeService(t)
	primary.setReply(replyStatus(500, "application/json", `{"code":1000,"errorMessage":"internal"}`))
	board := &deadlineBoard{}
	c, err := NewClient(ClientConfig{
		AppKey: testAppKey, AppSecret: NewSecret(testSecret), Hosts: []string{primary.URL(), backup.URL()},
		Timeout: 200 * time.Millisecond, Now: newFakeClock().Now, UserAgent: "tagcast/test", Board: board,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Push(context.Background(), validRequest()); err == nil {
		t.Fatal("setup: a 500 on the primary: want an error")
	}
	board.mu.Lock()
	defer board.mu.Unlock()
	callDeadline := board.readDeadline
	if callDeadline.IsZero() || len(board.moveDeadlines) != 1 {
		t.Fatalf("setup: board read with deadline %v, %d moves; want a read and one move", callDeadline, len(board.moveDeadlines))
	}
	if mv := board.moveDeadlines[0]; mv.After(callDeadline) {
		t.Errorf("the board move after the primary's 500 may run until %s past the call's deadline (Timeout 200ms): "+
			"ClientConfig.Timeout promises to bound the whole call, and the lease/attempt-budget/shutdown rules count on it",
			mv.Sub(callDeadline).Round(time.Millisecond))
	}
}
