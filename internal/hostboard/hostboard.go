// Package hostboard keeps the push service host each app's calls go to in
// Redis, shared by every process on that Redis: a pushapi.HostBoard.
//
// The push client moves to the other host of a data center when one fails,
// and stays there (the service's advice). Each process kept its own record,
// so a primary answering 500 (which may follow a push: the send's quota
// slot stays spent) cost a slot in every worker process before each moved
// on. On the board, the first failure moves them all.
package hostboard

import (
	"context"
	_ "embed"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/tagcast/tagcast/pushapi"
)

// Prefix starts the board's key of each app: Prefix + app name. The key has
// no expiry: the calls stay on the host that works until it fails (or the
// key is deleted, which sends them to the primary).
const Prefix = "tagcast:host:"

//go:embed move.lua
var moveSource string

var moveScript = redis.NewScript(moveSource)

// Board is the active host of one app on Redis.
type Board struct {
	rdb redis.UniversalClient
	key string
}

var _ pushapi.HostBoard = (*Board)(nil)

// New returns app's board on rdb.
func New(rdb redis.UniversalClient, app string) *Board {
	return &Board{rdb: rdb, key: Prefix + app}
}

// Active returns the host the board names, "" when none (the primary).
func (b *Board) Active(ctx context.Context) (string, error) {
	h, err := b.rdb.Get(ctx, b.key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return h, err
}

// Move names to when the board names from, or names none of hosts (nothing,
// or a host of a configuration since changed) and from is the primary,
// hosts[0]; in one step: of two processes failing on the same host, the
// second does not move the board on again.
func (b *Board) Move(ctx context.Context, from, to string, hosts []string) error {
	args := append([]any{from, to}, anys(hosts)...)
	return moveScript.Run(ctx, b.rdb, []string{b.key}, args...).Err()
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
