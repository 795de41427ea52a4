-- KEYS[1]: an app's board. ARGV: from, to, then the client's hosts,
-- primary first.
-- Names to when the board names from, or names none of the hosts (nothing,
-- or a host of a configuration since changed) and from is the primary;
-- else another process moved it first. Returns 1 when moved.
local cur = redis.call('GET', KEYS[1])
local move = cur == ARGV[1]
if not move and ARGV[1] == ARGV[3] then
  move = true
  if cur then
    for i = 3, #ARGV do
      if ARGV[i] == cur then
        move = false
        break
      end
    end
  end
end
if move then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
