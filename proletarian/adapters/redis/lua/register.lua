#!lua
-- Add or replace a worker in the registry. ARGV: prefix, worker id, registration (JSON),
-- first heartbeat (JSON).
redis.call('HSET', WORKERS, ARGV[2], ARGV[3])
redis.call('HSET', SEEN, ARGV[2], ARGV[4])
return 1
