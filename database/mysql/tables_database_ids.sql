-- proletarian: the MySQL / MariaDB tables for database-generated job ids (DatabaseIds), the DDL
-- MySQLStore.install_schema() runs when the store is built with job_ids=DatabaseIds().
-- Needs MySQL 8.0.1+ or MariaDB 10.6+ (FOR UPDATE SKIP LOCKED) and InnoDB.
--
-- The same tables as tables.sql except job_id, a BIGINT AUTO_INCREMENT that enqueue returns
-- as a decimal string. On MariaDB the store reads the ids with INSERT ... RETURNING (one
-- statement for enqueue_many); MySQL has no RETURNING, so there enqueue_many inserts its jobs
-- one by one in one transaction and reads each LAST_INSERT_ID().
-- Timestamps are UTC in DATETIME(6): no time zone conversion, no 2038 limit, microseconds kept.
-- To rename the tables, replace `proletarian_job` and `proletarian_archived_job` and pass
-- job_table= / archived_job_table= to MySQLStore.

CREATE TABLE IF NOT EXISTS `proletarian_job` (
    job_id          BIGINT       NOT NULL AUTO_INCREMENT,
    queue           VARCHAR(255) NOT NULL,
    job_type        VARCHAR(255) NOT NULL,
    payload         LONGTEXT     NOT NULL,  -- the serializer's output (JSON by default)
    priority        SMALLINT     NOT NULL,  -- 0 CRITICAL, 1 HIGH, 2 NORMAL, 3 LOW
    attempts        INT          NOT NULL DEFAULT 0,  -- finished attempts
    abandons        INT          NOT NULL DEFAULT 0,  -- attempts that ended without an outcome
    enqueued_at     DATETIME(6)  NOT NULL,
    process_at      DATETIME(6)  NOT NULL,  -- due time
    meta            MEDIUMTEXT   NOT NULL,  -- JSON object of strings, '' when empty
    error_type      TEXT         NULL,      -- the last attempt's error, if it failed
    error_message   LONGTEXT     NULL,
    error_traceback LONGTEXT     NULL,
    PRIMARY KEY (job_id),
    -- The claim walks this index in claim order within one queue: priority, due time, id.
    -- Keep its name: claims force it (FORCE INDEX) so that they read, and lock, no row past
    -- the one they take.
    KEY claim_order (queue, priority, process_at, job_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `proletarian_archived_job` (
    job_id          BIGINT       NOT NULL,
    queue           VARCHAR(255) NOT NULL,
    job_type        VARCHAR(255) NOT NULL,
    payload         LONGTEXT     NOT NULL,
    priority        SMALLINT     NOT NULL,
    attempts        INT          NOT NULL,
    abandons        INT          NOT NULL DEFAULT 0,
    enqueued_at     DATETIME(6)  NOT NULL,
    process_at      DATETIME(6)  NOT NULL,
    meta            MEDIUMTEXT   NOT NULL,
    error_type      TEXT         NULL,
    error_message   LONGTEXT     NULL,
    error_traceback LONGTEXT     NULL,
    status          VARCHAR(16)  NOT NULL,  -- 'succeeded' or 'failed'
    started_at      DATETIME(6)  NOT NULL,  -- when the last attempt was claimed
    finished_at     DATETIME(6)  NOT NULL,
    PRIMARY KEY (job_id),
    -- prune_archive deletes by age; throughput counts by minute of it.
    KEY finished (finished_at),
    -- Operators list jobs newest first (by id) within a status: `proletarian jobs --status
    -- failed`. install_schema adds it to tables made before it.
    KEY status_id (status, job_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The worker registry: one row per running worker, kept by its heartbeat (one UPDATE per
-- interval), for operators (`proletarian workers`). Claims never read it. A worker that missed
-- three heartbeats is dead, and live workers delete its row. Named after the job table, with
-- `_worker` after it.
CREATE TABLE IF NOT EXISTS `proletarian_job_worker` (
    worker_id       VARCHAR(255) NOT NULL,
    host            VARCHAR(255) NOT NULL,
    pid             INT          NOT NULL,
    queues          MEDIUMTEXT   NOT NULL,  -- JSON array of queue names
    threads         INT          NOT NULL,
    version         VARCHAR(64)  NOT NULL,  -- proletarian's version
    started_at      DATETIME(6)  NOT NULL,
    last_seen       DATETIME(6)  NOT NULL,  -- the last heartbeat
    heartbeat_every DOUBLE       NOT NULL,  -- seconds between heartbeats
    running         MEDIUMTEXT   NOT NULL,  -- JSON array of the ids of its running jobs
    PRIMARY KEY (worker_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Unique jobs: the job that last took each unique key. The key is held while that job is
-- queued, and for unique_for_microseconds after it was archived; enqueue takes a free key over
-- in its own transaction, holding the key's row lock. The key is its UTF-8 bytes (VARBINARY):
-- compared exactly (no case folding, no PAD SPACE) and sorted in code point order.
-- Added in 0.2: on an older schema, install_schema() (or this file) creates it.
CREATE TABLE IF NOT EXISTS `proletarian_job_key` (
    unique_key              VARBINARY(1020) NOT NULL,  -- at most 255 characters
    job_id                  BIGINT          NOT NULL,
    unique_for_microseconds BIGINT          NOT NULL DEFAULT 0,
    PRIMARY KEY (unique_key),
    -- cancel and prune_archive remove the key of the job they remove.
    KEY job (job_id)
) ENGINE=InnoDB;
