package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// storeMarkKey holds, in a shared Redis database, the identity of the one
// store whose processes use it (sqlstore.Store.Identity).
const storeMarkKey = "tagcast:store"

// markStore sets the key to id unless it is set, and returns its value.
var markStore = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// errRedisOfAnotherStore is the refusal of a process whose shared Redis
// database is another store's.
var errRedisOfAnotherStore = errors.New("redis.url: this Redis database is used by another tagcast store: " +
	"two stores on one Redis database share its quota windows (kept by app name), its asynq queue and its task ids (run:<id>), " +
	"so one could push over the other's quota and drop its runs. Give each deployment a Redis database of its own (redis://host:6379/N)")

// claimRedis marks the shared Redis database as this store's, and refuses
// it when it is marked as another's. It runs before anything reads or
// writes the quota windows or the queue. The embedded Redis is the
// process's own. A flushed database loses its mark; the next process to
// start marks it again.
func (d *deps) claimRedis(ctx context.Context) error {
	if d.mr != nil || d.rdb == nil || d.store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id, err := d.store.Identity(ctx)
	if err != nil {
		return err
	}
	owner, err := markStore.Run(ctx, d.rdb, []string{storeMarkKey}, id).Text()
	if err != nil {
		return fmt.Errorf("redis: mark the database as this store's (key %s): %w", storeMarkKey, err)
	}
	if owner != id {
		return fmt.Errorf("%w (its key %s names store %s; this store is %s). If it is this deployment's own database and its "+
			"store was made anew (recreated, or restored from before the mark), what it holds belongs to the old store: "+
			"flush that database, or at least delete the key %s, before starting", errRedisOfAnotherStore, storeMarkKey, owner, id, storeMarkKey)
	}
	return nil
}
