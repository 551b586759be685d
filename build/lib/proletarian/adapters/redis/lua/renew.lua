#!lua
-- Extend a held lease. ARGV: prefix, id, queue, token, locked_until. Returns 1, or 0 if lost.
local job = job_key(ARGV[2])
if redis.call('HGET', job, 'locked_by') ~= ARGV[4] then return 0 end
redis.call('HSET', job, 'locked_until', ARGV[5])
redis.call('ZADD', leased_key(ARGV[3]), ARGV[5], ARGV[2])
return 1
