#!lua
-- Archive a held job as succeeded or failed, then trim the archive to its retention.
-- ARGV: prefix, id, queue, token, status, started_at, finished_at, error ('' for none),
-- retention (-1 for unbounded).
-- Returns 1 when archived, 2 when it was already (a re-sent call), 0 when the claim is lost.
local id, queue, token, status = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local job = job_key(id)
local held = holder(job, token)
if held ~= 1 then return held end
release(job, id, queue, token)
redis.call('HINCRBY', job, 'attempts', 1)
redis.call('HSET', job, 'status', status, 'started_at', ARGV[6], 'finished_at', ARGV[7])
if ARGV[8] == '' then
  redis.call('HDEL', job, 'error')
else
  redis.call('HSET', job, 'error', ARGV[8])
end
redis.call('ZADD', ARCHIVE, ARGV[7], id)
redis.call('HINCRBY', count_key(status), queue, 1)

-- Oldest finished go first; at most TRIM_BATCH per call, so no call blocks Redis for long
-- (after retention is lowered, later calls trim the rest).
local TRIM_BATCH = 1000
local retention = tonumber(ARGV[9])
if retention >= 0 then
  local excess = math.min(redis.call('ZCARD', ARCHIVE) - retention, TRIM_BATCH)
  if excess > 0 then
    for _, old in ipairs(redis.call('ZRANGE', ARCHIVE, 0, excess - 1)) do forget(old) end
    redis.call('ZREMRANGEBYRANK', ARCHIVE, 0, excess - 1)
  end
end
return 1
