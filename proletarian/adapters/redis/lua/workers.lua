#!lua flags=no-writes
-- The registry. ARGV: prefix. Returns {registration, heartbeat} (JSON each) per worker.
local rows = {}
local all = redis.call('HGETALL', WORKERS)
for i = 1, #all, 2 do
  rows[#rows + 1] = {all[i + 1], redis.call('HGET', SEEN, all[i]) or ''}
end
return rows
