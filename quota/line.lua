-- line.lua: keep_place, shared by reserve.lua and queue.lua (prepended).
--
-- keep_place keeps waiter's place in an app's line (line: ZSET, member =
-- waiter id, score = its due instant, Unix ms) until the real Unix ms
-- expiry (line_expiry: ZSET, member = waiter id, score = that instant),
-- never shortening a longer place; both keys outlive the latest place.
local function keep_place(line, line_expiry, waiter, due, real_now, expiry)
  redis.call('ZADD', line, due, waiter)
  local had = tonumber(redis.call('ZSCORE', line_expiry, waiter) or '0')
  if had < expiry then
    redis.call('ZADD', line_expiry, expiry, waiter)
  end
  local ttl = math.max(had, expiry) - real_now + 1000
  if redis.call('PTTL', line_expiry) < ttl then
    redis.call('PEXPIRE', line, ttl)
    redis.call('PEXPIRE', line_expiry, ttl)
  end
end
