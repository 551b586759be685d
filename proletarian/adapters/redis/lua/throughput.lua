#!lua flags=no-writes
-- Archived jobs per minute since `since`, by the archive's finished_at scores.
-- ARGV: prefix, since. Returns {minute (microseconds / 60e6), succeeded, failed} per minute
-- with any.
local counts, minutes = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', ARCHIVE, ARGV[2], '+inf')) do
  local f = redis.call('HMGET', job_key(id), 'status', 'finished_at')
  if f[1] and f[2] then
    local minute = math.floor(tonumber(f[2]) / 60000000)
    if not counts[minute] then
      counts[minute] = {0, 0}
      minutes[#minutes + 1] = minute
    end
    local slot = f[1] == 'succeeded' and 1 or 2
    counts[minute][slot] = counts[minute][slot] + 1
  end
end
local rows = {}
for _, minute in ipairs(minutes) do
  rows[#rows + 1] = {minute, counts[minute][1], counts[minute][2]}
end
return rows
