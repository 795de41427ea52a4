-- seed.lua: rebuild an app's windows from the store's ledger, unless another
-- process did it first (the marker is back), so concurrent rebuilds are safe.
--
-- KEYS[1]  entries ZSET (see reserve.lua)
-- KEYS[2]  initialized marker
-- KEYS[3]  generation key (generation.lua)
-- KEYS[4]  released ZSET (release.lua): claims given back, never seeded
--
-- ARGV[1]  TTL of the entries key, ms
-- ARGV[2]  TTL of the marker, ms
-- ARGV[3]  the generation and ARGV[4] the run_id generation.lua returned
--          before the ledger was read
-- ARGV[5..] score, member pairs: one per ledger send (Unix ms, unique id)
--
-- A claim released since the ledger was read (its row deleted after the
-- read) is in KEYS[4] and is skipped: it was never sent.
--
-- Returns 1 when this call seeded the entries and set the marker, 0 when the
-- marker of this Redis run was already present (nothing changed), -1 when
-- the state was lost again since the generation was read (nothing changed:
-- the ledger read may predate sends reserved and made in between; read it
-- again).
--
-- The marker holds the server's run_id (new at every start, its own on each
-- replica): a marker of another run came back from an older snapshot or
-- with a fail-over, over windows that may lack the latest entries, and is
-- rebuilt over (server_run_id: runid.lua).
local run_id = server_run_id()
local mark = redis.call('GET', KEYS[2])
if mark and (run_id == nil or mark == run_id) then
  return 0
end
if redis.call('GET', KEYS[3]) ~= ARGV[3] or (run_id or '') ~= ARGV[4] then
  return -1
end
redis.call('DEL', KEYS[1])
local batch = {}
local seeded = 0
for i = 5, #ARGV, 2 do
  if not redis.call('ZSCORE', KEYS[4], ARGV[i + 1]) then
    batch[#batch + 1] = ARGV[i]
    batch[#batch + 1] = ARGV[i + 1]
    seeded = seeded + 1
  end
  if #batch >= 500 then
    redis.call('ZADD', KEYS[1], unpack(batch))
    batch = {}
  end
end
if #batch > 0 then
  redis.call('ZADD', KEYS[1], unpack(batch))
end
if seeded > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
redis.call('SET', KEYS[2], run_id or '1', 'PX', ARGV[2])
return 1
