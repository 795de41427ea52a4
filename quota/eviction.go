package quota

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// ErrEvictionUnknown: the server would not tell its eviction settings
// (CONFIG refused, as some managed services do).
var ErrEvictionUnknown = errors.New("cannot read maxmemory and maxmemory-policy")

// CheckEviction returns an error when the Redis server may evict keys: a
// maxmemory limit with a maxmemory-policy other than noeviction. Every key
// of the guard has a TTL, so even a volatile-* policy may evict an app's
// entries and keep its marker; the guard would then take the empty windows
// for its state and grant slots the service has already counted. (asynq's
// queues are lost the same way.) It wraps ErrEvictionUnknown when the
// settings cannot be read.
func CheckEviction(ctx context.Context, c redis.UniversalClient) error {
	get := func(name string) (string, error) {
		m, err := c.ConfigGet(ctx, name).Result()
		if err != nil {
			return "", fmt.Errorf("%w: CONFIG GET %s: %w", ErrEvictionUnknown, name, err)
		}
		v, ok := m[name]
		if !ok {
			return "", fmt.Errorf("%w: CONFIG GET %s: no such setting", ErrEvictionUnknown, name)
		}
		return v, nil
	}
	limit, err := get("maxmemory")
	if err != nil {
		return err
	}
	policy, err := get("maxmemory-policy")
	if err != nil {
		return err
	}
	if n, err := strconv.ParseInt(limit, 10, 64); err == nil && n == 0 {
		return nil // no limit: nothing is ever evicted
	}
	if policy != "noeviction" {
		return fmt.Errorf("redis maxmemory is %s bytes with maxmemory-policy %s: Redis may evict the quota guard's windows (and queued runs), and the guard would then grant slots already used; set maxmemory-policy noeviction (or maxmemory 0)", limit, policy)
	}
	return nil
}
