-- block.lua: block an app until an instant, never shortening a longer block.
--
-- KEYS[1]  blocked-until (see reserve.lua): Unix ms as a string
--
-- ARGV[1]  until, Unix ms
-- ARGV[2]  TTL of the key, ms (so Redis forgets it once it is over)
--
-- Returns the blocked-until in force afterwards, Unix ms.
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local wanted = tonumber(ARGV[1])
if current >= wanted then
  return current
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return wanted
