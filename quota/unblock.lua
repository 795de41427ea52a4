-- unblock.lua: lift an app's block and say what it was.
--
-- KEYS[1]  blocked-until (see block.lua): Unix ms as a string
--
-- ARGV[1]  now, Unix ms
-- ARGV[2]  how long the lift's mark lasts, ms
--
-- The key is not deleted but set to minus now: a mark that blocks nothing
-- (reserve.lua reads any instant before now as no block) and tells a
-- rebuild under way that the block was lifted after it read the store
-- (syncblock.lua), so that it does not write the block back. block.lua
-- replaces the mark with the next block.
--
-- Returns the blocked-until it lifted, Unix ms; 0 if there was none. The
-- read and the write are one step, so a block set by another process in
-- between cannot be lifted without being returned.
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
redis.call('SET', KEYS[1], '-' .. ARGV[1], 'PX', ARGV[2])
if current < 0 then
  return 0
end
return current
