#!lua
-- Claim the most urgent due job of some queues under a lease.
-- ARGV: prefix, now, locked_until, token, queue...
-- Returns the claimed job's hash (HGETALL form), or nil when no job is due.
local now, locked_until, token = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local best_queue, best_score, best_member
for i = 5, #ARGV do
  local queue = ARGV[i]
  -- Due scheduled jobs join the ready set first, so priority holds across both.
  local scheduled = scheduled_key(queue)
  local due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', ARGV[2])
  for _, id in ipairs(due) do place(job_key(id), id, now) end
  if #due > 0 then redis.call('ZREMRANGEBYSCORE', scheduled, '-inf', ARGV[2]) end
  -- A lease that expired belongs to a worker that died or stalled: its job is claimable, and
  -- that attempt, which ended without an outcome, is counted as abandoned.
  local leased = leased_key(queue)
  local expired = redis.call('ZRANGEBYSCORE', leased, '-inf', ARGV[2])
  for _, id in ipairs(expired) do
    local job = job_key(id)
    if redis.call('EXISTS', job) == 1 then
      redis.call('HDEL', job, 'locked_by', 'locked_until')
      redis.call('HINCRBY', job, 'abandons', 1)
      place(job, id, now)
    end
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', leased, '-inf', ARGV[2]) end

  local head = redis.call('ZRANGE', ready_key(queue), 0, 0, 'WITHSCORES')
  if head[1] then
    local score = tonumber(head[2])
    if not best_score or score < best_score or (score == best_score and head[1] < best_member) then
      best_queue, best_score, best_member = queue, score, head[1]
    end
  end
end
if not best_queue then return nil end

redis.call('ZREM', ready_key(best_queue), best_member)
local id = id_of(best_member)
local job = job_key(id)
redis.call('HSET', job, 'locked_by', token, 'locked_until', locked_until)
redis.call('ZADD', leased_key(best_queue), locked_until, id)
return redis.call('HGETALL', job)
