#!lua
-- Enqueue jobs, all or none.
-- ARGV: prefix, now, request (a random id of this call), then per job: id, queue, job_type,
-- payload, priority, enqueued_at, process_at, meta.
-- Returns {1, ids}, or {0, id} when an id belongs to another job (nothing written).
local now, request = tonumber(ARGV[2]), ARGV[3]
local FIRST, FIELDS = 4, 8
local count = (#ARGV - FIRST + 1) / FIELDS

-- Every id is checked before anything is written. Ids that exist from this same request
-- mean the call was applied already and is re-sent because its reply was lost.
local ids, seen, applied = {}, {}, 0
for i = 0, count - 1 do
  local id = ARGV[FIRST + i * FIELDS]
  if seen[id] then return {0, id} end
  seen[id] = true
  ids[#ids + 1] = id
  local existing = redis.call('HGET', job_key(id), 'request')
  if existing == request then
    applied = applied + 1
  elseif redis.call('EXISTS', job_key(id)) == 1 then
    return {0, id}
  end
end
if applied == count then return {1, ids} end

local first = redis.call('INCRBY', SEQ, count) - count
local woken = {}
for i = 0, count - 1 do
  local base = FIRST + i * FIELDS
  local id, queue = ARGV[base], ARGV[base + 1]
  local job = job_key(id)
  redis.call('HSET', job,
    'id', id, 'queue', queue, 'job_type', ARGV[base + 2], 'payload', ARGV[base + 3],
    'priority', ARGV[base + 4], 'enqueued_at', ARGV[base + 5], 'process_at', ARGV[base + 6],
    'meta', ARGV[base + 7], 'attempts', 0, 'rank', rank(first + i + 1, id), 'request', request)
  redis.call('SADD', QUEUES, queue)
  local ready = place(job, id, now)
  if ready then woken[ready] = true end
end
for queue in pairs(woken) do wake(queue) end
return {1, ids}
