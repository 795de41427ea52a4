-- queue.lua: keep a waiter's place in an app's line (see line.lua) until a
-- real instant, or leave it.
--
-- KEYS[1..3]  line, line expiry, line need (see line.lua)
-- ARGV[1]  waiter id
-- ARGV[2]  "keep" or "leave"
-- ARGV[3]  its due instant, Unix ms; ARGV[4] the slots it needs; ARGV[5]
--          real now, Unix ms; ARGV[6] the place lasts until this real Unix ms
if ARGV[2] == 'leave' then
  leave_place(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
  return 1
end
keep_place(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]))
return 1
