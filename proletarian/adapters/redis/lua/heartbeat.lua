#!lua
-- A worker's heartbeat: one field written. ARGV: prefix, worker id, heartbeat (JSON).
-- Returns 0, writing nothing, when the worker is not registered (it was removed as dead).
if redis.call('HEXISTS', WORKERS, ARGV[2]) == 0 then return 0 end
redis.call('HSET', SEEN, ARGV[2], ARGV[3])
return 1
