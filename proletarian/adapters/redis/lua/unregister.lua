#!lua
-- Remove workers from the registry. ARGV: prefix, worker id...
for i = 2, #ARGV do
  redis.call('HDEL', WORKERS, ARGV[i])
  redis.call('HDEL', SEEN, ARGV[i])
end
return 1
