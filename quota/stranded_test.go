package quota

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// lostReplyHook lets the reserve script run in Redis, then loses its
// reply once, as a read timeout or a cancelled context does after the
// command was written.
type lostReplyHook struct{ armed atomic.Bool }

func (h *lostReplyHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *lostReplyHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *lostReplyHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		name := cmd.Name()
		if err == nil && (name == "evalsha" || name == "eval") && scriptMode(cmd.Args()) == "reserve" && h.armed.CompareAndSwap(true, false) {
			err = &net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout")}
			cmd.SetErr(err)
		}
		return err
	}
}

// scriptMode is an EVAL(SHA)'s first argument after its keys (reserve.lua's
// mode), "" if there is none.
func scriptMode(args []any) string {
	if len(args) < 3 {
		return ""
	}
	n, ok := args[2].(int)
	if !ok || len(args) <= 3+n {
		return ""
	}
	mode, _ := args[3+n].(string)
	return mode
}

// A Reserve that fails after its script ran in Redis (the reply was lost)
// must not leave its reservation behind: the caller never gets its id, so
// nobody can release it, and the slot is stranded for the whole window
// (a calendar day's slot of 3).
func TestReserveErrorStrandsSlot(t *testing.T) {
	start := time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)
	b := setup(t, map[string]Policy{"main": {Hourly: 2, Daily: 3}}, NoMargin, start)
	hook := &lostReplyHook{}
	client := redis.NewClient(&redis.Options{Addr: b.redis.Addr})
	t.Cleanup(func() { _ = client.Close() })
	client.AddHook(hook)
	opts := b.opts
	opts.Client = client
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := g.Status(ctx, "main"); err != nil { // initialise the windows
		t.Fatal(err)
	}
	hook.armed.Store(true)
	if _, err := g.Reserve(ctx, "main"); err == nil {
		t.Fatal("Reserve succeeded; the hook did not fire")
	}
	if got := b.entryScores(t, "main"); len(got) != 0 {
		t.Errorf("after a failed Reserve, %d slot(s) stay taken: %v", len(got), got)
	}
}
