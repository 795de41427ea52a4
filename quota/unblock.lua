-- unblock.lua: lift an app's block and say what it was.
--
-- KEYS[1]  blocked-until (see block.lua): Unix ms as a string
--
-- Returns the blocked-until it deleted, Unix ms; 0 if there was none. The
-- read and the delete are one step, so a block set by another process in
-- between cannot be lifted without being returned.
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
redis.call('DEL', KEYS[1])
return current
