#!lua flags=no-writes
-- Counts per queue. ARGV: prefix, now.
-- Returns {queue, ready, scheduled, running, succeeded, failed, oldest ready process_at or -1}
-- for each queue with any job. Due scheduled jobs and lapsed leases count as ready, as the
-- next claim will find them so.
local now = ARGV[2]

local function oldest_ready(queue)
  local oldest = false
  local function consider(at)
    at = tonumber(at)
    if at and (not oldest or at < oldest) then oldest = at end
  end
  -- The head of each priority band has the band's earliest due millisecond.
  local ready, from = ready_key(queue), 0
  while true do
    local head = redis.call('ZRANGEBYSCORE', ready, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if not head[1] then break end
    consider(redis.call('HGET', job_key(id_of(head[1])), 'process_at'))
    from = (math.floor(tonumber(head[2]) / PRIORITY_BAND) + 1) * PRIORITY_BAND
  end
  local due = redis.call('ZRANGEBYSCORE', scheduled_key(queue), '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
  consider(due[2])
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', leased_key(queue), '-inf', now)) do
    consider(redis.call('HGET', job_key(id), 'process_at'))
  end
  return oldest or -1
end

local rows = {}
for _, queue in ipairs(redis.call('SMEMBERS', QUEUES)) do
  local scheduled, leased = scheduled_key(queue), leased_key(queue)
  local due = redis.call('ZCOUNT', scheduled, '-inf', now)
  local lapsed = redis.call('ZCOUNT', leased, '-inf', now)
  local ready = redis.call('ZCARD', ready_key(queue)) + due + lapsed
  local waiting = redis.call('ZCARD', scheduled) - due
  local running = redis.call('ZCARD', leased) - lapsed
  local succeeded = tonumber(redis.call('HGET', count_key('succeeded'), queue) or 0)
  local failed = tonumber(redis.call('HGET', count_key('failed'), queue) or 0)
  if ready + waiting + running + succeeded + failed > 0 then
    rows[#rows + 1] = {queue, ready, waiting, running, succeeded, failed, oldest_ready(queue)}
  end
end
return rows
