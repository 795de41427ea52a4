-- KEYS[1]: an app's board. ARGV: from, to, primary.
-- Names to when the board names from, or names nothing and from is the
-- primary; else another process moved it first. Returns 1 when moved.
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] or (not cur and ARGV[1] == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
