#!lua
-- Put a held job back, due at `process_at`, counting the attempt and keeping the error.
-- ARGV: prefix, id, queue, token, process_at, error, now.
-- Returns 1, 2 when already done (a re-sent call), 0 when the claim is lost.
local id, queue, token = ARGV[2], ARGV[3], ARGV[4]
local job = job_key(id)
local held = holder(job, token)
if held ~= 1 then return held end
release(job, id, queue, token)
redis.call('HINCRBY', job, 'attempts', 1)
redis.call('HSET', job, 'process_at', ARGV[5], 'error', ARGV[6])
wake(place(job, id, tonumber(ARGV[7])))
return 1
