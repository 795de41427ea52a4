-- line.lua: keep_place and leave_place, shared by reserve.lua and queue.lua
-- (prepended). An app's line is three keys: line (ZSET, member = waiter
-- id, score = its due instant, Unix ms), line_expiry (ZSET, member =
-- waiter id, score = the real Unix ms at which the place lapses) and
-- line_need (HASH, waiter id -> how many slots it still needs).
--
-- keep_place keeps waiter's place, needing need slots, until the real Unix
-- ms expiry, never shortening a longer place; the keys outlive the latest
-- place.
local function keep_place(line, line_expiry, line_need, waiter, due, need, real_now, expiry)
  redis.call('ZADD', line, due, waiter)
  redis.call('HSET', line_need, waiter, need)
  local had = tonumber(redis.call('ZSCORE', line_expiry, waiter) or '0')
  if had < expiry then
    redis.call('ZADD', line_expiry, expiry, waiter)
  end
  local ttl = math.max(had, expiry) - real_now + 1000
  if redis.call('PTTL', line_expiry) < ttl then
    redis.call('PEXPIRE', line, ttl)
    redis.call('PEXPIRE', line_expiry, ttl)
    redis.call('PEXPIRE', line_need, ttl)
  end
end

-- leave_place removes waiter's place.
local function leave_place(line, line_expiry, line_need, waiter)
  redis.call('ZREM', line, waiter)
  redis.call('ZREM', line_expiry, waiter)
  redis.call('HDEL', line_need, waiter)
end
