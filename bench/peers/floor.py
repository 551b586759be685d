"""The raw-SQL floor: a bare psycopg loop running only the statements one job needs, over tables
laid out as proletarian's (its own DDL, in a schema of its own).

Enqueue is one INSERT that also notifies (as every measured system notifies on enqueue). A job
is one transaction: the SKIP LOCKED claim (psycopg sends BEGIN first), the archive-and-delete
statement, COMMIT; prepared statements, as psycopg prepares them after a few runs. Nothing else:
no pool, no events, no retry decisions, no Job objects. It is what a hand-written loop costs,
the bar the strict mode is held to.

With `pipeline=True` the same statements go in two round trips instead of four (BEGIN with the
claim, the archive with COMMIT, each pair in psycopg's pipeline mode). On this 2-core machine
that variant spends more CPU per job in psycopg than it saves in waiting, and drains slower at 4
threads, so the floor is the plain loop; the pipelined one is measured beside it.
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


def _run_one(conn: psycopg.Connection[Any], *, pipeline: bool) -> Any | None:
    """Claim, run (decode the payload) and archive one job in one transaction; the payload, or
    None when no job is due."""
    started = datetime.now(UTC)
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


class Floor:
    def __init__(self, *, pipeline: bool = False) -> None:
        self.pipeline = pipeline

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
        connections = [psycopg.connect(URL) for _ in range(concurrency)]

        def loop(conn: psycopg.Connection[Any]) -> None:
            while _run_one(conn, pipeline=self.pipeline) is not None:
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
        worker_conn = psycopg.connect(URL)

        def work() -> None:
            while not stop.is_set():
                for _ in listener.notifies(timeout=1.0, stop_after=1):
                    pass
                while (data := _run_one(worker_conn, pipeline=self.pipeline)) is not None:
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
