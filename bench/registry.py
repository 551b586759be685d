"""What the operators' features cost: the worker registry's heartbeat on every store, and the
job listing and throughput reads over a large archive.

    python -m bench.registry [--beats 1000] [--bulk 5000] [--archive 100000]

Prints three tables. The first: per store, the time of one heartbeat (the one small write each
worker makes per interval, 10 s by default), of reading the registry, and of the dead-worker
sweep, with 20 workers registered; and the share of one server connection a worker's
heartbeats take at the default interval. The second: bulk retry and cancel of `--bulk` jobs
on every store. The third: list_jobs pages (first, deep, filtered)
and throughput(60) with `--archive` archived jobs (1% failed) on PostgreSQL and SQLite.
Uses a schema, tables or a key prefix named bench_registry_<pid>, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pymysql
import redis

from proletarian.adapters.mysql import MySQLStore
from proletarian.adapters.postgres import PostgresStore
from proletarian.adapters.redis import RedisStore
from proletarian.adapters.sqlite import SQLiteStore
from proletarian.core.inspection import WorkerInfo
from proletarian.core.job import JobError, JobStatus, NewJob
from proletarian.ports.store import QueueStore
from proletarian.worker.registry import DEFAULT_INTERVAL

# The servers of bench/common.py (its own imports need the bench extra; this needs none).
PG_URL = os.environ.get("PROLETARIAN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("PROLETARIAN_BENCH_MYSQL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("PROLETARIAN_BENCH_REDIS", "redis://127.0.0.1:6379/14")
NAME = f"bench_registry_{os.getpid()}"
WORKERS = 20


@contextmanager
def stores(folder: Path) -> Iterator[list[tuple[str, QueueStore]]]:
    sqlite = SQLiteStore(folder / "bench.db")
    pg = PostgresStore.connect(PG_URL, schema=NAME)
    my = MySQLStore.connect(
        MYSQL_URL, job_table=f"{NAME}_job", archived_job_table=f"{NAME}_archived_job"
    )
    rd = RedisStore.connect(REDIS_URL, prefix=NAME)
    every: list[tuple[str, QueueStore]] = [
        ("sqlite", sqlite),
        ("postgres", pg),
        ("mysql", my),
        ("redis", rd),
    ]
    try:
        for _, store in every:
            store.install_schema()
        yield every
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as pg_conn:
            pg_conn.execute(f'DROP SCHEMA IF EXISTS "{NAME}" CASCADE')
        parts = urlsplit(MYSQL_URL)
        with (
            pymysql.connect(
                host=parts.hostname,
                port=parts.port or 3306,
                user=parts.username or "root",
                password=parts.password or "",
                database=parts.path.lstrip("/"),
                autocommit=True,
            ) as conn,
            conn.cursor() as cur,
        ):
            for table in ("job", "archived_job", "job_worker"):
                cur.execute(f"DROP TABLE IF EXISTS `{NAME}_{table}`")
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{NAME}:*"):
            client.delete(key)
        client.close()
        for _, store in every:
            store.close()


def timed(action: Callable[[], object], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def ms(samples: list[float], q: float = 0.5) -> str:
    ordered = sorted(samples)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.2f}"


def worker(index: int, now: datetime) -> WorkerInfo:
    return WorkerInfo(
        id=f"bench-{index}",
        host="bench-host",
        pid=1000 + index,
        queues=("default", "emails"),
        threads=8,
        version="bench",
        started_at=now,
        last_seen=now,
        heartbeat_interval=DEFAULT_INTERVAL,
    )


def heartbeat(store: QueueStore, running: list[str]) -> None:
    store.heartbeat_worker("bench-0", running, datetime.now(UTC))


def sweep_dead(store: QueueStore) -> None:
    store.remove_dead_workers(datetime.now(UTC))


def registry_table(every: list[tuple[str, QueueStore]], beats: int) -> None:
    print(f"Worker registry, {WORKERS} workers registered, {beats} heartbeats each store")
    print()
    header = ("store", "heartbeat p50 ms", "p99 ms", "workers() ms", "sweep ms", "share of 10 s")
    print(" | ".join(header))
    print(" | ".join("-" * len(h) for h in header))
    running = [str(uuid.uuid4()) for _ in range(8)]
    for name, store in every:
        now = datetime.now(UTC)
        for index in range(WORKERS):
            store.register_worker(worker(index, now))
        beat = timed(partial(heartbeat, store, running), beats)
        read = timed(store.workers, 50)
        sweep = timed(partial(sweep_dead, store), 50)
        share = statistics.median(beat) / DEFAULT_INTERVAL.total_seconds() * 100
        print(f"{name} | {ms(beat)} | {ms(beat, 0.99)} | {ms(read)} | {ms(sweep)} | {share:.4f}%")
    print()


def bulk_table(every: list[tuple[str, QueueStore]], count: int) -> None:
    """retry_failed_jobs over `count` failed jobs, then cancel_queued_jobs over them."""
    print(f"Bulk actions over {count:,} jobs, seconds (batches of 500, each committed)")
    print()
    header = ("store", "retry_failed_jobs", "cancel_queued_jobs")
    print(" | ".join(header))
    print(" | ".join("-" * len(h) for h in header))
    error = JobError(type="OSError", message="down")
    for name, store in every:
        store.enqueue_many([NewJob("bulk", None, queue="bulk") for _ in range(count)])
        while claim := store.claim(["bulk"], worker_id="bench"):
            claim.fail(error)
        start = time.perf_counter()
        retried = store.retry_failed_jobs(queue="bulk")
        middle = time.perf_counter()
        cancelled = store.cancel_queued_jobs(queue="bulk")
        end = time.perf_counter()
        assert retried == cancelled == count, (name, retried, cancelled)
        print(f"{name} | {middle - start:.2f} | {end - middle:.2f}")
    print()


def load_pg(count: int) -> None:
    """`count` archived jobs in one INSERT ... SELECT, 1% failed, finished over the last day."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{NAME}".archived_job (job_id, queue, job_type, payload, priority, '
            "attempts, enqueued_at, process_at, meta, status, started_at, finished_at, "
            "error_type, error_message) "
            "SELECT gen_random_uuid(), 'q' || (i %% 4), 'type-' || (i %% 20), '{}', 2, 1, "
            "now() - interval '1 day', now() - interval '1 day', '', "
            "CASE WHEN i %% 100 = 0 THEN 'failed' ELSE 'succeeded' END, "
            "now() - (i * interval '1 day') / %(count)s, "
            "now() - (i * interval '1 day') / %(count)s, "
            "CASE WHEN i %% 100 = 0 THEN 'ValueError' END, CASE WHEN i %% 100 = 0 THEN 'x' END "
            "FROM generate_series(1, %(count)s) AS i",
            {"count": count},
        )
        conn.execute(f'ANALYZE "{NAME}".archived_job')


def load_sqlite(path: Path, count: int) -> None:
    import sqlite3

    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        finished = (now - timedelta(days=1) * i / count).replace(tzinfo=None)
        text = finished.isoformat(sep=" ", timespec="microseconds")
        failed = i % 100 == 0
        rows.append(
            (
                str(uuid.uuid4()),
                f"q{i % 4}",
                f"type-{i % 20}",
                "{}",
                2,
                1,
                text,
                text,
                "",
                "failed" if failed else "succeeded",
                text,
                text,
                "ValueError" if failed else None,
                "x" if failed else None,
            )
        )
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO archived_job (job_id, queue, job_type, payload, priority, attempts, "
            "enqueued_at, process_at, meta, status, started_at, finished_at, error_type, "
            "error_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("ANALYZE")


def listing_table(every: dict[str, QueueStore], archive: int) -> None:
    print(f"Reads over {archive:,} archived jobs (1% failed), median of 20, ms")
    print()
    header = ("store", "first page", "page 20", "failed", "type filter", "throughput(60)")
    print(" | ".join(header))
    print(" | ".join("-" * len(h) for h in header))
    for name, store in every.items():
        cursor = None
        for _ in range(19):
            cursor = store.list_jobs(limit=50, before=cursor).next_before
        results = [
            timed(partial(store.list_jobs, limit=50), 20),
            timed(partial(store.list_jobs, limit=50, before=cursor), 20),
            timed(partial(store.list_jobs, status=JobStatus.FAILED, limit=50), 20),
            timed(partial(store.list_jobs, job_type="type-7", limit=50), 20),
            timed(partial(store.throughput, 60), 20),
        ]
        print(" | ".join([name, *(ms(r) for r in results)]))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beats", type=int, default=1000)
    parser.add_argument("--archive", type=int, default=100_000)
    parser.add_argument("--bulk", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, stores(Path(folder)) as every:
        registry_table(every, args.beats)
        bulk_table(every, args.bulk)
        load_pg(args.archive)
        load_sqlite(Path(folder) / "bench.db", args.archive)
        by_name = dict(every)
        listing_table({"postgres": by_name["postgres"], "sqlite": by_name["sqlite"]}, args.archive)


if __name__ == "__main__":
    main()
