#!lua
-- Delete up to `limit` archived jobs finished before `cutoff`.
-- ARGV: prefix, cutoff, limit. Returns how many were deleted.
local old = redis.call('ZRANGEBYSCORE', ARCHIVE, '-inf', '(' .. ARGV[2], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(old) do
  forget(id)
  redis.call('ZREM', ARCHIVE, id)
end
return #old
