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

// storeMarkEvery is how often a running process puts its mark back: a
// Redis flushed or restarted empty loses it, and the first process of
// another store to start would then take the database.
const storeMarkEvery = 5 * time.Second

// markStore sets the key to ARGV[1] unless it is set, and returns its value
// and 1 when it set it (0 when it was there).
var markStore = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {v, 0} end
redis.call('SET', KEYS[1], ARGV[1])
return {ARGV[1], 1}
`)

// errRedisOfAnotherStore is the refusal of a process whose shared Redis
// database is another store's.
var errRedisOfAnotherStore = errors.New("redis.url: this Redis database is used by another tagcast store: " +
	"two stores on one Redis database share its quota windows (kept by app name), its asynq queue and its task ids (run:<id>), " +
	"so one could push over the other's quota and drop its runs. Give each deployment a Redis database of its own (redis://host:6379/N)")

// claimRedis marks the shared Redis database as this store's, and refuses
// it when it is marked as another's. It runs before anything reads or
// writes the quota windows or the queue. The embedded Redis is the
// process's own and is not marked.
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
	d.storeID = id
	_, err = d.markRedis(ctx)
	return err
}

// markRedis writes the mark unless it is there, and reports whether it
// wrote it; a mark naming another store is an error.
func (d *deps) markRedis(ctx context.Context) (bool, error) {
	res, err := markStore.Run(ctx, d.rdb, []string{storeMarkKey}, d.storeID).Slice()
	if err != nil {
		return false, fmt.Errorf("redis: mark the database as this store's (key %s): %w", storeMarkKey, err)
	}
	owner, _ := res[0].(string)
	set, _ := res[1].(int64)
	if owner != d.storeID {
		return false, fmt.Errorf("%w (its key %s names store %s; this store is %s). If it is this deployment's own database and its "+
			"store was made anew (recreated, or restored from before the mark), what it holds belongs to the old store: "+
			"flush that database, or at least delete the key %s, before starting", errRedisOfAnotherStore, storeMarkKey, owner, d.storeID, storeMarkKey)
	}
	return set == 1, nil
}

// keepRedisMark puts the mark back every storeMarkEvery while the process
// runs (a flush or an empty restart removed it), and stops the process
// when the database has meanwhile been marked by another store. Redis
// being unreachable is not its business: the parts that use it say so.
func (d *deps) keepRedisMark(ctx context.Context) error {
	return watchEvery(ctx, storeMarkEvery, func(ctx context.Context) error {
		mctx, cancel := context.WithTimeout(ctx, storeMarkEvery)
		defer cancel()
		set, err := d.markRedis(mctx)
		switch {
		case errors.Is(err, errRedisOfAnotherStore):
			return err
		case err != nil:
			if ctx.Err() == nil {
				d.log.Warn().Err(err).Msg("redis: could not check the database's mark")
			}
		case set:
			d.log.Warn().Str("key", storeMarkKey).Msg("redis: the database had lost this store's mark (flushed, or restarted empty): marked again")
		}
		return nil
	})
}
