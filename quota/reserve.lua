-- reserve.lua: check and record one send against an app's hour and day
-- windows in one atomic step (or, in peek mode, only report them).
--
-- KEYS[1]  entries: ZSET of reservations; member = reservation id,
--          score = reservation time (Unix ms rounded up, the caller's clock)
-- KEYS[2]  initialized marker: present once the entries were rebuilt from the
--          store's ledger, holding the Redis run_id of that rebuild; without
--          it, or with another server's run_id, nothing is reserved
-- KEYS[3]  blocked-until: Unix ms before which nothing is reserved (set after
--          a 429/1008 from the service)
-- KEYS[4]  line: ZSET of the places of callers waiting for a slot (runs);
--          member = waiter id, score = its due instant, Unix ms
-- KEYS[5]  line expiry: ZSET, member = waiter id, score = real Unix ms at
--          which the place lapses (its waiter did not come back)
-- KEYS[6]  line need: HASH, waiter id -> the slots it still needs
--
-- ARGV[1]  mode: "reserve" records a reservation when there is room;
--          "peek" changes nothing and only reports
-- ARGV[2]  now, Unix ms (the caller's clock, so simulated time works)
-- ARGV[3]  reservation id (the new ZSET member)
-- ARGV[4]  TTL of the entries key, ms
-- ARGV[5]  TTL of the marker, ms
-- ARGV[6]  entries scored below this Unix ms are outside every window and
--          are removed (reserve mode)
-- ARGV[7..12]   hour window: limit; count-from (a ZCOUNT min bound, "(ms"
--               exclusive or "ms" inclusive); hold ms (rolling: how long an
--               entry holds its slot; 0 for a fixed window); reset Unix ms
--               (fixed: the next boundary; 0 for rolling); the next fixed
--               window's count-from (reset minus the margin) and reset (0, 0
--               for rolling)
-- ARGV[13..18]  day window: the same six fields
-- ARGV[19] the new entry's score: now in Unix ms rounded up (guard.go score)
-- ARGV[20] waiter id; "" for a caller outside the line (served if there is
--          room, whoever waits)
-- ARGV[21] the waiter's due instant, Unix ms (its place in the line)
-- ARGV[22] real now, Unix ms (places lapse in real time: they stand for
--          live processes, also under a simulated clock)
-- ARGV[23] how long a refused waiter's place lasts, ms of real time
-- ARGV[24] how many slots the waiter needs (its run's sends due now)
--
-- Returns {state, hour_used, hour_opens, day_used, day_opens, blocked_until,
-- line}:
--   state "reserved": recorded; the used counts include the new entry
--   state "full": nothing recorded; *_opens is the Unix ms at which that
--         window has room again (0: room now); blocked_until is 0 unless set
--         and still in the future; a waiter keeps (or takes) its place
--   state "queued": the windows have room, but no more than the waiters
--         ahead of this one in the line need: nothing recorded, the waiter
--         keeps its place; line is how many are ahead
--   a granted waiter that needs more slots keeps its place, needing one
--   less; one that needed one leaves the line
--   state "rebuild": reserve mode, marker missing or of another Redis run:
--         nothing recorded, the caller must rebuild from the ledger first
--   state "peek" / "uninitialized": peek mode, with or without the marker
local entries, marker, blocked = KEYS[1], KEYS[2], KEYS[3]
local line, line_expiry, line_need = KEYS[4], KEYS[5], KEYS[6]
local mode = ARGV[1]
local now = tonumber(ARGV[2])
local waiter = ARGV[20]
local real_now = tonumber(ARGV[22])
-- The marker holds the run_id of the Redis server that seeded the windows
-- (see seed.lua): another run_id means a restart from an older snapshot or
-- a fail-over to a replica, whose windows may lack the latest entries.
local mark = redis.call('GET', marker)
local initialized = false
if mark then
  local run_id = server_run_id()
  initialized = run_id == nil or mark == run_id
end
if mode == 'reserve' and not initialized then
  return {'rebuild', 0, 0, 0, 0, 0, 0}
end

-- place keeps the refused waiter's place for the hold (keep_place, line.lua).
local function place(need)
  keep_place(line, line_expiry, line_need, waiter, ARGV[21], need, real_now, real_now + tonumber(ARGV[23]))
end
local need = math.max(tonumber(ARGV[24]) or 1, 1)

-- window returns how many entries count and when a slot opens (0: now).
local function window(limit, from, hold, reset, next_from, next_reset)
  local used = redis.call('ZCOUNT', entries, from, '+inf')
  if used < limit then
    return used, 0
  end
  if hold > 0 then
    -- Rolling: once the (used-limit+1)-th oldest counted entry has left,
    -- limit-1 remain.
    local e = redis.call('ZRANGEBYSCORE', entries, from, '+inf', 'WITHSCORES', 'LIMIT', used - limit, 1)
    return used, tonumber(e[2]) + hold
  end
  -- Fixed: entries within the margin before the boundary count in the next
  -- window too; when they fill it, nothing opens before its own reset.
  if next_reset > 0 and redis.call('ZCOUNT', entries, next_from, '+inf') >= limit then
    return used, next_reset
  end
  return used, reset
end

if mode == 'reserve' then
  redis.call('ZREMRANGEBYSCORE', entries, '-inf', '(' .. ARGV[6])
end
local hour_used, hour_opens = window(tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]),
  ARGV[11], tonumber(ARGV[12]))
local day_used, day_opens = window(tonumber(ARGV[13]), ARGV[14], tonumber(ARGV[15]), tonumber(ARGV[16]),
  ARGV[17], tonumber(ARGV[18]))
local blocked_until = tonumber(redis.call('GET', blocked) or '0') or 0
if blocked_until <= now then
  blocked_until = 0
end

if mode ~= 'reserve' then
  local state = 'peek'
  if not initialized then
    state = 'uninitialized'
  end
  return {state, hour_used, hour_opens, day_used, day_opens, blocked_until, 0}
end
if hour_opens > 0 or day_opens > 0 or blocked_until > 0 then
  if waiter ~= '' then
    place(need)
  end
  return {'full', hour_used, hour_opens, day_used, day_opens, blocked_until, 0}
end
local in_line = waiter ~= '' and redis.call('EXISTS', line) == 1
if in_line then
  -- Lapsed places first: their waiters died or gave up.
  local gone = redis.call('ZRANGEBYSCORE', line_expiry, '-inf', real_now)
  for _, m in ipairs(gone) do
    leave_place(line, line_expiry, line_need, m)
  end
  -- Served only while the room is more than the slots the earlier waiters
  -- need (ties in due instant go by id). Each needs one at least, so only
  -- the first `room` places can matter.
  redis.call('ZADD', line, ARGV[21], waiter)
  local ahead = redis.call('ZRANK', line, waiter)
  local room = math.min(tonumber(ARGV[7]) - hour_used, tonumber(ARGV[13]) - day_used)
  local needed = ahead
  if ahead > 0 and ahead < room then
    needed = 0
    local before = redis.call('ZRANGE', line, 0, ahead - 1)
    local needs = redis.call('HMGET', line_need, unpack(before))
    for _, n in ipairs(needs) do
      needed = needed + math.max(tonumber(n) or 1, 1)
    end
  end
  if needed >= room then
    place(need)
    return {'queued', hour_used, 0, day_used, 0, 0, ahead}
  end
end
if waiter ~= '' and need > 1 then
  place(need - 1) -- its next send's turn
elseif in_line then
  leave_place(line, line_expiry, line_need, waiter)
end
redis.call('ZADD', entries, ARGV[19], ARGV[3])
redis.call('PEXPIRE', entries, ARGV[4])
redis.call('PEXPIRE', marker, ARGV[5])
return {'reserved', hour_used + 1, 0, day_used + 1, 0, 0, 0}
