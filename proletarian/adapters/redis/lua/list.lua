#!lua flags=no-writes
-- Jobs newest first by id: the operators' listing. Redis keeps no index by id, so this reads
-- the ids of the queues' sets and of the archive (bounded by archive_retention) and sorts
-- those that pass the filters.
-- ARGV: prefix, now, limit, before ('' for none), status ('' for all, 'queued' for every
-- queued job, or one status), queue ('' for all), job_type ('' for all).
-- Returns the jobs' hashes (HGETALL form), at most `limit`.
local now, limit, before = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local status, queue, job_type = ARGV[5], ARGV[6], ARGV[7]
local archived = status == '' or status == 'succeeded' or status == 'failed'
local queued = not (status == 'succeeded' or status == 'failed')

local found = {}
local function consider(id, queued_status)
  if before ~= '' and id >= before then return end
  local f = redis.call('HMGET', job_key(id), 'queue', 'job_type', 'status')
  if not f[1] then return end
  if queue ~= '' and f[1] ~= queue then return end
  if job_type ~= '' and f[2] ~= job_type then return end
  local actual = f[3] or queued_status
  if status ~= '' and status ~= 'queued' and actual ~= status then return end
  found[#found + 1] = id
end

-- A queued job's status as stats.lua tells it: a lapsed lease or a due schedule is ready.
local function due_status(at)
  if tonumber(at) <= now then return 'ready' end
  return 'scheduled'
end

if queued then
  local queues = queue ~= '' and {queue} or redis.call('SMEMBERS', QUEUES)
  for _, name in ipairs(queues) do
    for _, member in ipairs(redis.call('ZRANGE', ready_key(name), 0, -1)) do
      consider(id_of(member), 'ready')
    end
    local scheduled = redis.call('ZRANGE', scheduled_key(name), 0, -1, 'WITHSCORES')
    for i = 1, #scheduled, 2 do consider(scheduled[i], due_status(scheduled[i + 1])) end
    local leased = redis.call('ZRANGE', leased_key(name), 0, -1, 'WITHSCORES')
    for i = 1, #leased, 2 do
      local lapsed = tonumber(leased[i + 1]) <= now
      if lapsed then
        consider(leased[i], due_status(redis.call('HGET', job_key(leased[i]), 'process_at')))
      else
        consider(leased[i], 'running')
      end
    end
  end
end
if archived then
  for _, id in ipairs(redis.call('ZRANGE', ARCHIVE, 0, -1)) do consider(id, false) end
end

table.sort(found, function(a, b) return a > b end)
local rows = {}
for i = 1, math.min(limit, #found) do rows[i] = redis.call('HGETALL', job_key(found[i])) end
return rows
