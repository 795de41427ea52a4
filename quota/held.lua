-- held.lua: whether a reservation still holds its slot (Guard.Held).
--
-- KEYS[1]  entries ZSET (see reserve.lua)
-- KEYS[2]  initialized marker
-- ARGV[1]  reservation id
-- ARGV[2]  the member of the claim it was spent on ('' when unclaimed):
--          a rebuild from the ledger seeds a claim in flight under it, so
--          that slot is this claim's too
--
-- Returns 1 when the entry (either) is there AND the windows are this Redis run's:
-- a missing marker, or one of another run (a restart from an older
-- snapshot, a fail-over), means a rebuild is due or under way, and a
-- rebuild may already have read a ledger without the reservation's claim
-- while the entry is still in place (it seeds afterwards). 0 otherwise.
local mark = redis.call('GET', KEYS[2])
if not mark then
  return 0
end
local run_id = server_run_id()
if run_id ~= nil and mark ~= run_id then
  return 0
end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 1
end
if ARGV[2] ~= '' and redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return 1
end
return 0
