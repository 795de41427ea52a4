-- release.lua: give back a reservation (Guard.Release).
--
-- KEYS[1]  entries ZSET (see reserve.lua)
-- KEYS[2]  released ZSET: claim members given back, scored by the instant
--          of their release (Unix ms); seed.lua skips them
--
-- ARGV[1]  now, Unix ms (the guard's clock)
-- ARGV[2]  how long a released claim is remembered, ms (the entries' TTL:
--          no ledger read reaches further back)
-- ARGV[3]  the reservation id
-- ARGV[4]  the member of the claim it was spent on ('' when unclaimed)
-- ARGV[5]  now minus ARGV[2], Unix ms: released claims scored before it are
--          forgotten
--
-- A rebuild reads the ledger first and seeds after: a claim given back
-- between the two (its ledger row deleted after the read) would be seeded
-- from the read, counted for its window with no push behind it. The
-- released set remembers the claim so that such a seed skips it. A claim
-- is never sent once given back (a new claim of the send has a new name),
-- so skipping its name is right whenever it comes.
--
-- Returns the number of entries removed.
local n = redis.call('ZREM', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then
  n = n + redis.call('ZREM', KEYS[1], ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return n
