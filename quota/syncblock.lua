-- syncblock.lua: at a rebuild, make Redis's block the store's.
--
-- KEYS[1]  blocked-until (see block.lua): Unix ms as a string
--
-- ARGV[1]  the blocked-until Redis held before the store was read, Unix ms
--          (0: none)
-- ARGV[2]  the store's block, Unix ms (0: none in force)
-- ARGV[3]  TTL of the key, ms
--
-- A rebuild follows a loss of Redis's state, and a Redis restarted from an
-- older snapshot brings back a block an operator has lifted since (Unblock
-- deletes the store's record, then the key; the snapshot has the key). The
-- store is the truth: the block becomes the store's, shorter or none. Unless
-- the key changed after it was read (ARGV[1]): block.lua writes the store
-- first and Redis after, so a block set in Redis since that read may be
-- missing from the store's answer, and is kept, as block.lua keeps a longer
-- block. (A block the store could not record is dropped by a rebuild: the
-- service's next 429 sets it again.) Nor one an operator lifted since that
-- read: unblock.lua leaves a negative mark, and the store's answer may
-- predate the lift.
--
-- Returns the blocked-until in force afterwards, Unix ms (0: none).
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local before = tonumber(ARGV[1])
local stored = tonumber(ARGV[2])
if current ~= before and current < 0 then
  return 0
end
if current == before or stored > current then
  if stored > 0 then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  elseif current > 0 then
    redis.call('DEL', KEYS[1])
  end
  -- A mark is never removed: another rebuild under way may have read the
  -- store before the lift, and only the mark tells it so.
  return stored
end
return current
