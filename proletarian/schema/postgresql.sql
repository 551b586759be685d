-- proletarian: the PostgreSQL tables (PostgreSQL 13 or later).
--
-- The same DDL PostgresStore.install_schema() and `proletarian schema apply` run; copy it into
-- your migrations to own it there. Every statement is IF NOT EXISTS, so it can run again.
-- Timestamps are timestamptz (UTC instants); the store passes every time as a parameter from
-- its own clock, never the server's now().
-- Other names: PostgresStore(schema=..., job_table=..., archived_job_table=...) runs this DDL
-- with its names in place of "proletarian", "job" and "archived_job" (index names start with
-- the table's name). With DatabaseIds, use tables_bigint_ids.sql instead.

CREATE SCHEMA IF NOT EXISTS proletarian;

-- Jobs waiting on a queue. A running job stays here: with transactional claims (the default)
-- its row is locked (FOR UPDATE) by the open transaction of the worker that claimed it, and its
-- outcome archives or updates it in that transaction; with leased claims
-- (PostgresStore(lease=...)) locked_by and locked_until hold it instead.
CREATE TABLE IF NOT EXISTS proletarian.job (
    job_id          uuid        PRIMARY KEY,          -- UUIDv7 by default: time-ordered
    queue           text        NOT NULL,
    job_type        text        NOT NULL,
    payload         text        NOT NULL,             -- the serializer's output (JSON by default)
    priority        smallint    NOT NULL,             -- 0 CRITICAL, 1 HIGH, 2 NORMAL, 3 LOW
    attempts        integer     NOT NULL DEFAULT 0,   -- finished attempts: counted by outcomes
    abandons        integer     NOT NULL DEFAULT 0,   -- attempts that ended without an outcome
    enqueued_at     timestamptz NOT NULL,
    process_at      timestamptz NOT NULL,             -- due time
    meta            text        NOT NULL DEFAULT '',  -- JSON object of strings, '' when empty
    error_type      text,                             -- the last failed attempt's error
    error_message   text,
    error_traceback text,
    locked_by       text,                             -- leased claims: the holder's token
    locked_until    timestamptz                       -- leased claims: the lease's expiry
);

-- The claim walks this index in claim order, once per priority: due time, then id (enqueue
-- order).
CREATE INDEX IF NOT EXISTS job_claim_idx
    ON proletarian.job (queue, priority, process_at, job_id);

-- Finished jobs: succeeded, or failed for the last time.
CREATE TABLE IF NOT EXISTS proletarian.archived_job (
    job_id          uuid        PRIMARY KEY,
    queue           text        NOT NULL,
    job_type        text        NOT NULL,
    payload         text        NOT NULL,
    priority        smallint    NOT NULL,
    attempts        integer     NOT NULL,             -- every attempt made, the last included
    abandons        integer     NOT NULL DEFAULT 0,   -- attempts that ended without an outcome
    enqueued_at     timestamptz NOT NULL,
    process_at      timestamptz NOT NULL,
    meta            text        NOT NULL DEFAULT '',
    status          text        NOT NULL CHECK (status IN ('succeeded', 'failed')),
    started_at      timestamptz NOT NULL,             -- when the last attempt was claimed
    finished_at     timestamptz NOT NULL,
    error_type      text,                             -- set when status is 'failed'
    error_message   text,
    error_traceback text
);

-- Tables made by an earlier release lack the abandons column.
ALTER TABLE proletarian.job ADD COLUMN IF NOT EXISTS abandons integer NOT NULL DEFAULT 0;
ALTER TABLE proletarian.archived_job ADD COLUMN IF NOT EXISTS abandons integer NOT NULL DEFAULT 0;

-- prune_archive deletes by finish time.
CREATE INDEX IF NOT EXISTS archived_job_finished_idx
    ON proletarian.archived_job (finished_at);

-- Operators list jobs newest first (by id) within a status: `proletarian jobs --status failed`
-- walks this index backwards and stops at the page's end.
CREATE INDEX IF NOT EXISTS archived_job_status_idx
    ON proletarian.archived_job (status, job_id);

-- The worker registry: one row per running worker, kept by its heartbeat (one UPDATE per
-- interval, of no indexed column), for operators (`proletarian workers`). Claims never read
-- it. A worker that missed three heartbeats is dead, and live workers delete its row.
CREATE TABLE IF NOT EXISTS proletarian.job_worker (
    worker_id       text        PRIMARY KEY,
    host            text        NOT NULL,
    pid             integer     NOT NULL,
    queues          text        NOT NULL,               -- JSON array of queue names
    threads         integer     NOT NULL,
    version         text        NOT NULL,               -- proletarian's version
    started_at      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,               -- the last heartbeat
    heartbeat_every double precision NOT NULL,          -- seconds between heartbeats
    running         text        NOT NULL DEFAULT '[]'   -- JSON array of its running jobs' ids
);

-- Unique jobs: the job that last took each unique key. The key is held while that job is
-- queued, and for unique_for_microseconds after it was archived; enqueue takes a free key over
-- in its own transaction. COLLATE "C": keys compare exactly, and sort in code point order.
-- Added in 0.2: on an older schema, install_schema() (or this file) creates it.
CREATE TABLE IF NOT EXISTS proletarian.job_key (
    unique_key              text COLLATE "C" PRIMARY KEY,
    job_id                  uuid      NOT NULL,
    unique_for_microseconds bigint      NOT NULL DEFAULT 0
);

-- cancel and prune_archive remove the key of the job they remove.
CREATE INDEX IF NOT EXISTS job_key_job_id_idx ON proletarian.job_key (job_id);
