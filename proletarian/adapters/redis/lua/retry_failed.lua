#!lua
-- Put an archived failed job back on its queue, due now, with no attempts.
-- ARGV: prefix, id, now. Returns 1, or 0 when there is no such failed job.
local id = ARGV[2]
local job = job_key(id)
local f = redis.call('HMGET', job, 'queue', 'status')
if f[2] ~= 'failed' then return 0 end
redis.call('ZREM', ARCHIVE, id)
redis.call('HINCRBY', count_key('failed'), f[1], -1)
redis.call('HDEL', job, 'status', 'started_at', 'finished_at', 'error', 'outcome_by', 'abandons')
redis.call('HSET', job, 'attempts', 0, 'process_at', ARGV[3], 'rank', rank(redis.call('INCR', SEQ), id))
wake(place(job, id, tonumber(ARGV[3])))
return 1
