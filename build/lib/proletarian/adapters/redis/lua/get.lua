#!lua flags=no-writes
-- A job's hash, queued or archived. ARGV: prefix, id.
return redis.call('HGETALL', job_key(ARGV[2]))
