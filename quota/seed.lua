-- seed.lua: rebuild an app's windows from the store's ledger, unless another
-- process did it first (the marker is back), so concurrent rebuilds are safe.
--
-- KEYS[1]  entries ZSET (see reserve.lua)
-- KEYS[2]  initialized marker
--
-- ARGV[1]  TTL of the entries key, ms
-- ARGV[2]  TTL of the marker, ms
-- ARGV[3..] score, member pairs: one per ledger send (Unix ms, unique id)
--
-- Returns 1 when this call seeded the entries and set the marker, 0 when the
-- marker was already present (nothing changed).
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('DEL', KEYS[1])
local batch = {}
for i = 3, #ARGV, 2 do
  batch[#batch + 1] = ARGV[i]
  batch[#batch + 1] = ARGV[i + 1]
  if #batch >= 500 then
    redis.call('ZADD', KEYS[1], unpack(batch))
    batch = {}
  end
end
if #batch > 0 then
  redis.call('ZADD', KEYS[1], unpack(batch))
end
if #ARGV > 2 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 1
