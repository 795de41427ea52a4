-- release.lua: give back a reservation. By its id; or, when a rebuild from
-- the ledger replaced the entries meanwhile, the ledger-made entry of the
-- same attempt (its claim made sent_at = the reservation's instant, so the
-- entry has that score and ends in that instant's Unix ns, to the µs).
--
-- KEYS[1]  entries ZSET (see reserve.lua)
--
-- ARGV[1]  reservation id
-- ARGV[2]  the reservation's instant, Unix ms (the entries' score)
-- ARGV[3]  ":" .. the reservation's instant in Unix ns, truncated to the µs
--
-- Returns 1 when the reservation was removed by its id, 2 when a rebuilt
-- entry of the same instant was, 0 when neither was found.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  return 1
end
local suffix = ARGV[3]
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do
  if string.sub(m, 1, 7) == 'ledger:' and string.sub(m, -#suffix) == suffix then
    redis.call('ZREM', KEYS[1], m)
    return 2
  end
end
return 0
