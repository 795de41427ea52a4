-- runid.lua is put in front of reserve.lua and seed.lua (guard.go).
--
-- server_run_id is the run_id of this Redis server: new at every start and
-- its own on each replica, so a marker seeded by another run (an older
-- snapshot restored, a fail-over) is told apart. nil where INFO is refused
-- or has no run_id (the embedded Redis): there, the marker's presence is
-- all that can be checked.
local function server_run_id()
  local ok, info = pcall(redis.call, 'INFO', 'server')
  if not ok or type(info) ~= 'string' then
    return nil
  end
  return string.match(info, 'run_id:(%x+)')
end

