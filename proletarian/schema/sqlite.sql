-- proletarian: the SQLite tables (the same DDL SQLiteStore.install_schema() runs).
--
-- Copy this into your migrations, or let the store create the tables on first use.
-- Timestamps are UTC as ISO-8601 text with a fixed width, 'YYYY-MM-DD HH:MM:SS.ffffff', so
-- they sort correctly as text and SQLite's date functions read them:
--   SELECT job_id FROM archived_job WHERE finished_at < datetime('now', '-7 days');
-- The store runs with journal_mode=WAL, which it sets on every connection it opens.
-- To rename the tables, replace "job" and "archived_job" (and the index names that start with
-- them) and pass job_table= / archived_job_table= to SQLiteStore.

CREATE TABLE IF NOT EXISTS "job" (
    job_id          TEXT PRIMARY KEY NOT NULL,  -- UUIDv7 by default: time-ordered
    queue           TEXT NOT NULL,
    job_type        TEXT NOT NULL,
    payload         TEXT NOT NULL,              -- the serializer's output (JSON by default)
    priority        INTEGER NOT NULL,           -- 0 CRITICAL, 1 HIGH, 2 NORMAL, 3 LOW
    attempts        INTEGER NOT NULL DEFAULT 0, -- finished attempts: counted by outcomes
    abandons        INTEGER NOT NULL DEFAULT 0, -- attempts that ended without an outcome
    enqueued_at     TEXT NOT NULL,
    process_at      TEXT NOT NULL,              -- due time
    meta            TEXT NOT NULL DEFAULT '',   -- JSON object of strings, '' when empty
    error_type      TEXT,                       -- the last attempt's error, if it failed
    error_message   TEXT,
    error_traceback TEXT,
    locked_by       TEXT,                       -- claim token of the worker holding the lease
    locked_until    TEXT                        -- lease expiry; claimable again after it
);

-- The claim walks this index in claim order: priority, due time, then id (enqueue order).
CREATE INDEX IF NOT EXISTS "job_claim_order" ON "job" (queue, priority, process_at, job_id);

CREATE TABLE IF NOT EXISTS "archived_job" (
    job_id          TEXT PRIMARY KEY NOT NULL,
    queue           TEXT NOT NULL,
    job_type        TEXT NOT NULL,
    payload         TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    abandons        INTEGER NOT NULL DEFAULT 0,
    enqueued_at     TEXT NOT NULL,
    process_at      TEXT NOT NULL,
    meta            TEXT NOT NULL DEFAULT '',
    error_type      TEXT,
    error_message   TEXT,
    error_traceback TEXT,
    status          TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    started_at      TEXT,                       -- when the last attempt was claimed
    finished_at     TEXT NOT NULL
);

-- prune_archive deletes by finish time.
CREATE INDEX IF NOT EXISTS "archived_job_finished_at" ON "archived_job" (finished_at);

-- Operators list jobs newest first (by id) within a status: `proletarian jobs --status failed`.
CREATE INDEX IF NOT EXISTS "archived_job_status" ON "archived_job" (status, job_id);

-- The worker registry: one row per running worker, kept by its heartbeat, for operators
-- (`proletarian workers`). Claims never read it. A worker that missed three heartbeats is
-- dead, and live workers delete its row.
CREATE TABLE IF NOT EXISTS "job_worker" (
    worker_id       TEXT PRIMARY KEY NOT NULL,
    host            TEXT NOT NULL,
    pid             INTEGER NOT NULL,
    queues          TEXT NOT NULL,              -- JSON array of queue names
    threads         INTEGER NOT NULL,
    version         TEXT NOT NULL,              -- proletarian's version
    started_at      TEXT NOT NULL,
    last_seen       TEXT NOT NULL,              -- the last heartbeat
    heartbeat_every REAL NOT NULL,              -- seconds between heartbeats
    running         TEXT NOT NULL DEFAULT '[]'  -- JSON array of the ids of its running jobs
);

-- Unique jobs: the job that last took each unique key. A key is held while that job is queued,
-- and for unique_for_microseconds after it was archived; enqueue takes a free key over in the
-- same transaction as its insert. New in 0.2: install_schema() adds it to an older schema.
CREATE TABLE IF NOT EXISTS "job_key" (
    unique_key              TEXT PRIMARY KEY NOT NULL,
    job_id                  TEXT NOT NULL,
    unique_for_microseconds INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- cancel and prune_archive remove the key of the job they remove.
CREATE INDEX IF NOT EXISTS "job_key_job_id" ON "job_key" (job_id);
