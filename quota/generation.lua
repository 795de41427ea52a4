-- generation.lua: the rebuild generation of an app's windows, read before a
-- rebuild reads the ledger; seed.lua seeds only under the same generation.
--
-- KEYS[1]  generation key
-- ARGV[1]  a new random generation, set only when none is there
-- ARGV[2]  TTL of the generation key, ms (the marker's)
--
-- Returns {generation, run_id}: the generation now in place and this
-- server's run_id ('' where unknown). A loss of Redis's state (FLUSHALL, a
-- restart empty, a restart from an older snapshot, a fail-over) takes the
-- generation with it or changes the run_id, so a ledger read made before it
-- is never seeded after it.
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return {redis.call('GET', KEYS[1]), server_run_id() or ''}
