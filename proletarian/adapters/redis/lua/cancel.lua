#!lua
-- Delete a queued job unless its lease holds. ARGV: prefix, id, now. Returns 1 or 0.
local id = ARGV[2]
local job = job_key(id)
local f = redis.call('HMGET', job, 'queue', 'status', 'locked_until', 'rank', 'unique_key')
if not f[1] or f[2] then return 0 end
if f[3] and tonumber(f[3]) > tonumber(ARGV[3]) then return 0 end
redis.call('ZREM', ready_key(f[1]), f[4])
redis.call('ZREM', scheduled_key(f[1]), id)
redis.call('ZREM', leased_key(f[1]), id)
redis.call('DEL', job)
drop_key(id, f[5])
return 1
