-- queue.lua: keep a waiter's place in an app's line (see reserve.lua) until
-- a real instant (keep_place, line.lua).
--
-- KEYS[1]  line; KEYS[2]  line expiry (see line.lua)
-- ARGV[1]  waiter id; ARGV[2] its due instant, Unix ms; ARGV[3] real now,
--          Unix ms; ARGV[4] the place lasts until this real Unix ms
keep_place(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
return 1
