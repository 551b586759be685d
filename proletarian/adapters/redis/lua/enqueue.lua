#!lua
-- Enqueue jobs, all or none.
-- ARGV: prefix, now, request (a random id of this call), then per job: id, queue, job_type,
-- payload, priority, enqueued_at, process_at, meta, unique_key ('' for none), unique_for.
-- Returns {1, ids, created}: per job its id, or the id of the job holding its unique key
-- (created 0, nothing written for it); or {0, id} when an id belongs to another job (nothing
-- written). The caller sends each unique key once per call.
local now, request = tonumber(ARGV[2]), ARGV[3]
local FIRST, FIELDS = 4, 10
local count = (#ARGV - FIRST + 1) / FIELDS

-- Every id is checked before anything is written. Ids that exist from this same request
-- mean the call was applied already and is re-sent because its reply was lost: the answer is
-- then rebuilt from what it wrote (a job whose key was held wrote nothing, and its key's
-- holder is read again).
local ids, created, seen, applied = {}, {}, {}, 0
for i = 0, count - 1 do
  local id = ARGV[FIRST + i * FIELDS]
  if seen[id] then return {0, id} end
  seen[id] = true
  local existing = redis.call('HGET', job_key(id), 'request')
  if existing == request then
    applied = applied + 1
  elseif redis.call('EXISTS', job_key(id)) == 1 then
    return {0, id}
  end
end

-- Which jobs are written: those with no key, and those whose key is free (checked and taken
-- here, in the same script as the write: atomic).
for i = 0, count - 1 do
  local base = FIRST + i * FIELDS
  local id, key = ARGV[base], ARGV[base + 8]
  local holder = false
  if applied > 0 then
    if redis.call('HGET', job_key(id), 'request') ~= request then
      holder = redis.call('HGET', UNIQUE, key) or id
    end
  elseif key ~= '' then
    holder = key_holder(key, now)
  end
  if holder then
    ids[#ids + 1], created[#created + 1] = holder, 0
  else
    ids[#ids + 1], created[#created + 1] = id, 1
  end
end
if applied > 0 then return {1, ids, created} end

local written = 0
for i = 0, count - 1 do if created[i + 1] == 1 then written = written + 1 end end
local first = redis.call('INCRBY', SEQ, written) - written
local woken = {}
for i = 0, count - 1 do
  if created[i + 1] == 1 then
    local base = FIRST + i * FIELDS
    local id, queue, key = ARGV[base], ARGV[base + 1], ARGV[base + 8]
    local job = job_key(id)
    first = first + 1
    redis.call('HSET', job,
      'id', id, 'queue', queue, 'job_type', ARGV[base + 2], 'payload', ARGV[base + 3],
      'priority', ARGV[base + 4], 'enqueued_at', ARGV[base + 5], 'process_at', ARGV[base + 6],
      'meta', ARGV[base + 7], 'attempts', 0, 'rank', rank(first, id), 'request', request)
    if key ~= '' then
      redis.call('HSET', job, 'unique_key', key, 'unique_for', ARGV[base + 9])
      redis.call('HSET', UNIQUE, key, id)
      redis.call('ZADD', UNIQUE_KEYS, 0, key)
    end
    redis.call('SADD', QUEUES, queue)
    local ready = place(job, id, now)
    if ready then woken[ready] = true end
  end
end
for queue in pairs(woken) do wake(queue) end
return {1, ids, created}
