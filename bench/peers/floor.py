"""The raw-SQL floor: a bare psycopg loop running only the statements one job needs, over tables
laid out as proletarian's (its own DDL, in a schema of its own).

Enqueue is one INSERT that also notifies (as every measured system notifies on enqueue). A job
is one transaction: the SKIP LOCKED claim, the archive-and-delete statement, COMMIT. Nothing
else: no pool, no events, no retry decisions, no Job objects. It is what a hand-written loop
costs, the bar the strict mode is held to. Three ways to send those statements are measured:

* "execute" (the floor): both statements prepared on the server once per connection (PREPARE),
  then `BEGIN; EXECUTE claim(...)` and `EXECUTE archive(...); COMMIT`, each one simple-protocol
  round trip: 2 round trips per job, no parsing or planning per job. The fastest here.
* "plain": psycopg's extended protocol with its automatic prepared statements; BEGIN and COMMIT
  are round trips of their own: 4 per job.
* "pipeline": the plain statements in psycopg's pipeline mode, 2 round trips per job; on this
  2-core machine it spends more CPU per job than it saves in waiting.

"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from bench.common import (
    BULK_BATCH,
    DEADLINE,
    PG_URL,
    LatencyProbe,
    Stopwatch,
    payload,
    pg_count,
    rate,
    reset_pg_schema,
)

SCHEMA = "bench_floor"
CHANNEL = "bench_floor"
URL = f"{PG_URL}?application_name=bench-{SCHEMA}"

_INSERT = """
WITH ins AS (
    INSERT INTO {job} (job_id, queue, job_type, payload, priority, enqueued_at, process_at, meta)
    VALUES (%s, %s, %s, %s, 2, %s, %s, '')
    RETURNING queue
)
SELECT pg_notify(%s, queue) FROM ins
"""

_INSERT_MANY = """
WITH ins AS (
    INSERT INTO {job} (job_id, queue, job_type, payload, priority, enqueued_at, process_at, meta)
    SELECT u.job_id, 'default', 'noop', u.payload, 2, %s, %s, ''
    FROM unnest(%s::uuid[], %s::text[]) AS u(job_id, payload)
    RETURNING queue
)
SELECT pg_notify(%s, 'default')
"""

_CLAIM = """
SELECT job_id, queue, job_type, payload, priority, attempts, enqueued_at, process_at, meta
FROM {job}
WHERE queue = %s AND process_at <= %s
ORDER BY priority, process_at, job_id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""

_ARCHIVE = """
WITH moved AS (
    DELETE FROM {job} WHERE job_id = %s
    RETURNING job_id, queue, job_type, payload, priority, attempts, enqueued_at, process_at, meta
)
INSERT INTO {archived} (job_id, queue, job_type, payload, priority, attempts, enqueued_at,
                        process_at, meta, status, started_at, finished_at)
SELECT job_id, queue, job_type, payload, priority, attempts + 1, enqueued_at, process_at, meta,
       'succeeded', %s, %s
FROM moved
"""


def _render(template: str) -> bytes:
    return (
        sql.SQL(template.strip())
        .format(job=sql.Identifier(SCHEMA, "job"), archived=sql.Identifier(SCHEMA, "archived_job"))
        .as_bytes()
    )


INSERT, INSERT_MANY, CLAIM, ARCHIVE = map(_render, (_INSERT, _INSERT_MANY, _CLAIM, _ARCHIVE))


def _fresh() -> None:
    from proletarian.adapters.postgres import PostgresStore

    reset_pg_schema(SCHEMA)
    store = PostgresStore.connect(URL, schema=SCHEMA, min_size=1, max_size=1)
    try:
        store.install_schema()
    finally:
        store.close()


def _insert_many(conn: psycopg.Connection[Any], start: int, count: int) -> None:
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in range(count)]
    payloads = [json.dumps(payload(i)) for i in range(start, start + count)]
    conn.execute(INSERT_MANY, (now, now, ids, payloads, CHANNEL))


_PREPARE = (
    b"PREPARE floor_claim(text, timestamptz) AS "
    + CLAIM.replace(b"%s", b"$1", 1).replace(b"%s", b"$2", 1)
    + b"; PREPARE floor_archive(uuid, timestamptz, timestamptz) AS "
    + ARCHIVE.replace(b"%s", b"$1", 1).replace(b"%s", b"$2", 1).replace(b"%s", b"$3", 1)
)


def _connect(mode: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(URL, autocommit=mode == "execute")
    if mode == "execute":
        conn.execute(_PREPARE)
    return conn


def _run_one(conn: psycopg.Connection[Any], mode: str) -> Any | None:
    """Claim, run (decode the payload) and archive one job in one transaction; the payload, or
    None when no job is due."""
    started = datetime.now(UTC)
    if mode == "execute":
        return _run_one_executed(conn, started)
    pipeline = mode == "pipeline"
    if pipeline:
        with conn.pipeline():
            row = conn.execute(CLAIM, ("default", started)).fetchone()
    else:
        row = conn.execute(CLAIM, ("default", started)).fetchone()
    if row is None:
        conn.rollback()
        return None
    data = json.loads(row[3])
    if pipeline:
        with conn.pipeline():
            conn.execute(ARCHIVE, (row[0], started, datetime.now(UTC)))
            conn.commit()
    else:
        conn.execute(ARCHIVE, (row[0], started, datetime.now(UTC)))
        conn.commit()
    return data


def _run_one_executed(conn: psycopg.Connection[Any], started: datetime) -> Any | None:
    cursor = psycopg.ClientCursor(conn)
    cursor.execute(b"BEGIN; EXECUTE floor_claim(%s, %s)", ("default", started), prepare=False)
    cursor.nextset()
    row = cursor.fetchone()
    if row is None:
        conn.execute(b"ROLLBACK")
        return None
    data = json.loads(row[3])
    cursor.execute(
        b"EXECUTE floor_archive(%s, %s, %s); COMMIT",
        (row[0], started, datetime.now(UTC)),
        prepare=False,
    )
    return data


class Floor:
    """`mode` is "execute" (the floor), "plain" or "pipeline" (see the module's docstring)."""

    def __init__(self, mode: str = "execute") -> None:
        self.mode = mode

    def enqueue_one(self, jobs: int) -> float:
        _fresh()
        with psycopg.connect(URL, autocommit=True) as conn:
            started = time.perf_counter()
            for i in range(jobs):
                now = datetime.now(UTC)
                params = (uuid.uuid4(), "default", "noop", json.dumps(payload(i)), now, now)
                conn.execute(INSERT, (*params, CHANNEL))
            elapsed = time.perf_counter() - started
        return rate(jobs, elapsed)

    def enqueue_bulk(self, jobs: int) -> float:
        _fresh()
        with psycopg.connect(URL, autocommit=True) as conn:
            started = time.perf_counter()
            for start in range(0, jobs, BULK_BATCH):
                _insert_many(conn, start, min(BULK_BATCH, jobs - start))
            elapsed = time.perf_counter() - started
        return rate(jobs, elapsed)

    def drain(self, jobs: int, concurrency: int) -> tuple[float, float]:
        _fresh()
        with psycopg.connect(URL, autocommit=True) as conn:
            for start in range(0, jobs, BULK_BATCH):
                _insert_many(conn, start, min(BULK_BATCH, jobs - start))
        connections = [_connect(self.mode) for _ in range(concurrency)]

        def loop(conn: psycopg.Connection[Any]) -> None:
            while _run_one(conn, self.mode) is not None:
                pass

        threads = [threading.Thread(target=loop, args=(c,)) for c in connections]
        watch = Stopwatch()
        watch.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE)
        watch.stop()
        for conn in connections:
            conn.close()
        done = pg_count(f"SELECT count(*) FROM {SCHEMA}.archived_job")
        if done != jobs:
            raise RuntimeError(f"the floor finished {done} of {jobs} jobs")
        return watch.drained(jobs)

    def latency(self, samples: int) -> list[float]:
        """One thread LISTENs; on each notification it runs jobs until none is due."""
        _fresh()
        probe = LatencyProbe()
        stop = threading.Event()
        listener = psycopg.connect(URL, autocommit=True)
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
        worker_conn = _connect(self.mode)

        def work() -> None:
            while not stop.is_set():
                for _ in listener.notifies(timeout=1.0, stop_after=1):
                    pass
                while (data := _run_one(worker_conn, self.mode)) is not None:
                    probe.seen(data)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        with psycopg.connect(URL, autocommit=True) as conn:

            def enqueue(data: dict[str, Any]) -> None:
                now = datetime.now(UTC)
                params = (uuid.uuid4(), "default", "probe", json.dumps(data), now, now)
                conn.execute(INSERT, (*params, CHANNEL))

            try:
                return probe.run(enqueue, samples)
            finally:
                stop.set()
                thread.join(5)
                listener.close()
                worker_conn.close()

    def rss(self, jobs: int) -> tuple[float, float]:
        raise NotImplementedError("the floor is no worker process")
