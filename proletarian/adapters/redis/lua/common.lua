-- Shared by every proletarian script: the loader puts it after the script's first line (its
-- shebang). The key layout lives here and only here, except the wake-up channel name, which
-- the Python listener builds too (see listener.py).
--
-- ARGV[1] is always the store's prefix. Keys are built here rather than passed as KEYS
-- because a claim learns which job keys it touches only while it runs: the store targets a
-- single Redis server (not Redis Cluster), where that is allowed.

local PREFIX = ARGV[1]
local ARCHIVE = PREFIX .. ':archive'  -- sorted set: archived job id by finished_at
local QUEUES = PREFIX .. ':queues'    -- set: every queue name ever used
local SEQ = PREFIX .. ':seq'          -- counter: enqueue order, for FIFO among equal scores
local WORKERS = PREFIX .. ':workers'  -- hash: worker id -> its registration (JSON)
local SEEN = PREFIX .. ':workers:seen'  -- hash: worker id -> its last heartbeat (JSON)
-- Unique jobs: the key table, as a hash of unique key -> id of the job that last took it, and
-- the same keys in a sorted set (every score 0) for latest_unique_key's lexicographic range.
-- The holder's job hash has the key and its unique_for (microseconds).
local UNIQUE = PREFIX .. ':unique'
local UNIQUE_KEYS = PREFIX .. ':unique:keys'

local function job_key(id) return PREFIX .. ':job:' .. id end
local function ready_key(queue) return PREFIX .. ':ready:' .. queue end
local function scheduled_key(queue) return PREFIX .. ':scheduled:' .. queue end
local function leased_key(queue) return PREFIX .. ':leased:' .. queue end
local function count_key(status) return PREFIX .. ':' .. status end  -- hash: queue -> count
local function channel(queue) return PREFIX .. ':wake:' .. queue end

-- Timestamps are integer microseconds since the epoch, always given by the caller (its
-- clock, never Redis TIME). They stay exact as Lua numbers until the year 2255; they are
-- written as the strings received, because tostring() would round them to 14 digits.

-- A ready job's score is priority * 1e15 + due time in milliseconds: below 2^53, so exact.
-- Equal scores order by member, a zero-padded sequence number then the id: enqueue order.
local PRIORITY_BAND = 1e15
local RANK_WIDTH = 17  -- 16 digits and ':'

local function ready_score(priority, due)
  return tonumber(priority) * PRIORITY_BAND + math.floor(tonumber(due) / 1000)
end

local function rank(seq, id) return string.format('%016d:', seq) .. id end

local function id_of(member) return string.sub(member, RANK_WIDTH + 1) end

-- Put a job that holds no lease where it waits: its queue's ready set when due at `now`,
-- else its queue's schedule. Returns the queue when the job is ready (worth a wake-up).
-- A missing job is skipped: scripts must not fail half-way, as Redis does not roll back.
local function place(job, id, now)
  local f = redis.call('HMGET', job, 'queue', 'priority', 'process_at', 'rank')
  if not (f[1] and f[2] and f[3] and f[4]) then return false end
  if tonumber(f[3]) <= now then
    redis.call('ZADD', ready_key(f[1]), ready_score(f[2], f[3]), f[4])
    return f[1]
  end
  redis.call('ZADD', scheduled_key(f[1]), f[3], id)
  return false
end

local function wake(queue)
  if queue then redis.call('PUBLISH', channel(queue), '') end
end

-- Whether `token` may record an outcome: 1 when it holds the job's lease, 2 when this very
-- outcome was recorded already (redis-py re-sends a command whose reply a dropped connection
-- lost), 0 when the claim is lost.
local function holder(job, token)
  local f = redis.call('HMGET', job, 'locked_by', 'outcome_by')
  if f[1] == token then return 1 end
  if f[2] == token then return 2 end
  return 0
end

local function release(job, id, queue, token)
  redis.call('ZREM', leased_key(queue), id)
  redis.call('HDEL', job, 'locked_by', 'locked_until')
  redis.call('HSET', job, 'outcome_by', token)
end

-- Remove the key a job holds (`key` read from its hash), if it still holds it: the job is
-- gone for good (cancelled, pruned or trimmed from the archive).
local function drop_key(id, key)
  if key and redis.call('HGET', UNIQUE, key) == id then
    redis.call('HDEL', UNIQUE, key)
    redis.call('ZREM', UNIQUE_KEYS, key)
  end
end

-- Delete an archived job and its count (and the key it holds).
local function forget(id)
  local job = job_key(id)
  local f = redis.call('HMGET', job, 'queue', 'status', 'unique_key')
  if f[1] and f[2] then redis.call('HINCRBY', count_key(f[2]), f[1], -1) end
  drop_key(id, f[3])
  redis.call('DEL', job)
end

-- The id of the job holding `key` at `now`, or false when the key is free: its holder is
-- neither queued (a hash with no status) nor archived less than its unique_for ago.
local function key_holder(key, now)
  local id = redis.call('HGET', UNIQUE, key)
  if not id then return false end
  local f = redis.call('HMGET', job_key(id), 'queue', 'status', 'finished_at', 'unique_for')
  if not f[1] then return false end
  if not f[2] then return id end
  if tonumber(f[3]) > now - tonumber(f[4] or 0) then return id end
  return false
end
