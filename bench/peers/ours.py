"""proletarian on each of its stores, driven through its public API as an application would."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import proletarian
from bench.common import (
    BULK_BATCH,
    DEADLINE,
    MYSQL_URL,
    PG_URL,
    REDIS_URL,
    Checkpoints,
    LatencyProbe,
    Stopwatch,
    payload,
    rate,
    reset_pg_schema,
    rss_mib,
)
from proletarian import NewJob, QueueWorker
from proletarian.ports.store import Notifier, QueueStore

PG_SCHEMA = "bench_proletarian"
MYSQL_TABLES = ("bench_job", "bench_archived_job")
REDIS_PREFIX = "proletarian-bench"
# Stores without notifications poll; a short interval keeps their latency row meaningful.
POLLING_WITHOUT_NOTIFY = timedelta(seconds=0.1)


class Ours:
    """proletarian over the store `kind` (postgres, mysql, sqlite, redis, memory). With
    `batch_size` > 1 the worker claims that many jobs per transaction (batch mode); with
    `lease`, PostgreSQL claims are leases."""

    def __init__(self, kind: str, *, batch_size: int = 1, lease: timedelta | None = None) -> None:
        self.kind = kind
        self.batch_size = batch_size
        self.lease = lease

    # -- the metrics -------------------------------------------------------------------------

    def enqueue_one(self, jobs: int) -> float:
        with self._store(producer=True) as store:
            started = time.perf_counter()
            for i in range(jobs):
                proletarian.enqueue(store, "noop", payload(i))
            elapsed = time.perf_counter() - started
        return rate(jobs, elapsed)

    def enqueue_bulk(self, jobs: int) -> float:
        batches = _batches(jobs)
        with self._store(producer=True) as store:
            started = time.perf_counter()
            for batch in batches:
                proletarian.enqueue_many(store, batch)
            elapsed = time.perf_counter() - started
        return rate(jobs, elapsed)

    def drain(self, jobs: int, concurrency: int) -> tuple[float, float]:
        watch = Stopwatch()
        with self._store() as store:
            _fill(store, jobs)
            worker = self._worker(store, _noop, concurrency)
            watch.start()
            worker.start()
            idle = worker.wait_idle(DEADLINE)
            watch.stop()
            worker.stop()
            _check_done(store, jobs, idle)
        return watch.drained(jobs)

    def latency(self, samples: int) -> list[float]:
        probe = LatencyProbe()

        def handle(job_type: str, data: Any) -> None:
            probe.seen(data)

        with self._store() as store:
            worker = self._worker(store, handle, 1)
            with worker:
                return probe.run(lambda data: proletarian.enqueue(store, "probe", data), samples)

    def rss(self, jobs: int) -> tuple[float, float]:
        checkpoints = Checkpoints(jobs)

        def handle(job_type: str, data: Any) -> None:
            checkpoints.tick()

        with self._store() as store:
            _fill(store, jobs)
            with self._worker(store, handle, 4):
                if not checkpoints.done.wait(DEADLINE):
                    raise RuntimeError(f"only {checkpoints.count} of {jobs} jobs ran")
                last = rss_mib()
        assert checkpoints.first is not None
        return checkpoints.first, last

    def idle(self, seconds: float, threads: int) -> dict[str, float]:
        """What an idle PostgreSQL worker with LISTEN active costs the server, over `seconds`
        of a worker of `threads` threads polling every second: claim queries counted by the
        client after a settling second (the first claim of each thread and the listener's
        start-up hint come before), and every transaction the server counted (commits and
        rollbacks in pg_stat_database) over the worker's whole life, connection start-ups
        included, in a database of its own so nothing else counts. The server's counters are
        read after every connection closed: a backend flushes them when it exits."""
        from proletarian.adapters.postgres import PostgresStore

        settle = 1.0
        url = _idle_database()
        setup = PostgresStore.connect(url, schema=PG_SCHEMA, max_size=1)
        setup.install_schema()
        setup.close()
        time.sleep(1.5)
        before = _transactions()
        claimed_at: list[float] = []
        store = PostgresStore.connect(url, schema=PG_SCHEMA, max_size=threads + 1)
        claim = store.claim

        def counting_claim(queues: Any, *, worker_id: str) -> Any:
            claimed_at.append(time.perf_counter())
            return claim(queues, worker_id=worker_id)

        store.claim = counting_claim  # type: ignore[method-assign]
        worker = QueueWorker(store, _noop, threads=threads, polling_interval=timedelta(seconds=1))
        started = time.perf_counter()
        worker.start()
        time.sleep(seconds + settle)
        worker.stop()
        lifetime = time.perf_counter() - started
        store.close()
        time.sleep(1.5)
        steady = [t for t in claimed_at if t >= started + settle]
        return {
            "seconds": seconds,
            "threads": threads,
            "steady_claims": len(steady),
            "claims": len(claimed_at),
            "lifetime": lifetime,
            "server_transactions": _transactions() - before,
        }

    # -- plumbing ----------------------------------------------------------------------------

    def _worker(self, store: QueueStore, handler: Any, threads: int) -> QueueWorker:
        polling = timedelta(seconds=1) if isinstance(store, Notifier) else POLLING_WITHOUT_NOTIFY
        options: dict[str, Any] = {}
        if self.batch_size > 1:
            options["batch_size"] = self.batch_size
        return QueueWorker(store, handler, threads=threads, polling_interval=polling, **options)

    @contextlib.contextmanager
    def _store(self, *, producer: bool = False) -> Iterator[QueueStore]:
        """A store of this kind over emptied storage, closed at exit. A producer's PostgreSQL
        pool starts with one connection (the default); a worker's has its connections open
        before the clock starts, as the peers' are."""
        with contextlib.ExitStack() as stack:
            opener = _OPENERS[self.kind]
            if self.kind == "postgres":
                opened = _postgres(min_size=1 if producer else 8, lease=self.lease)
                yield stack.enter_context(opened)
            else:
                yield stack.enter_context(opener())


def _noop(job_type: str, data: Any) -> None:
    pass


def _batches(jobs: int) -> list[list[NewJob]]:
    every = [NewJob(job_type="noop", payload=payload(i)) for i in range(jobs)]
    return [every[i : i + BULK_BATCH] for i in range(0, jobs, BULK_BATCH)]


def _fill(store: QueueStore, jobs: int) -> None:
    for batch in _batches(jobs):
        store.enqueue_many(batch)


def _check_done(store: QueueStore, jobs: int, idle: bool) -> None:
    stats = store.stats().get("default")
    done = stats.succeeded if stats else 0
    if not idle or done != jobs:
        raise RuntimeError(f"the worker finished {done} of {jobs} jobs (idle: {idle})")


IDLE_DATABASE = "proletarian_bench_idle"


def _idle_database() -> str:
    """The URL of a database only the idle measurement uses (created on first use)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (IDLE_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(IDLE_DATABASE)))
    return make_conninfo(PG_URL, dbname=IDLE_DATABASE)


def _transactions() -> int:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (IDLE_DATABASE,),
        ).fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def _postgres(min_size: int = 8, lease: timedelta | None = None) -> Iterator[QueueStore]:
    from proletarian.adapters.postgres import PostgresStore

    reset_pg_schema(PG_SCHEMA)
    url = f"{PG_URL}?application_name=bench-{PG_SCHEMA}"
    store = PostgresStore.connect(url, schema=PG_SCHEMA, min_size=min_size, max_size=8, lease=lease)
    try:
        store.install_schema()
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def _mysql() -> Iterator[QueueStore]:
    import pymysql

    from proletarian.adapters.mysql import MySQLStore

    job, archived = MYSQL_TABLES
    store = MySQLStore.connect(MYSQL_URL, job_table=job, archived_job_table=archived, pool_size=8)
    try:
        store.install_schema()
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", database="test")
        with conn, conn.cursor() as cursor:
            for table in MYSQL_TABLES:
                cursor.execute(f"DELETE FROM `{table}`")
            conn.commit()
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def _sqlite() -> Iterator[QueueStore]:
    from proletarian.adapters.sqlite import SQLiteStore

    with tempfile.TemporaryDirectory(prefix="proletarian-bench-") as directory:
        store = SQLiteStore(Path(directory) / "jobs.db")
        try:
            store.install_schema()
            yield store
        finally:
            store.close()


@contextlib.contextmanager
def _redis() -> Iterator[QueueStore]:
    from proletarian.adapters.redis import RedisStore

    store = RedisStore.connect(REDIS_URL, prefix=REDIS_PREFIX)
    try:
        _wipe_redis(store)
        yield store
    finally:
        _wipe_redis(store)
        store.close()


def _wipe_redis(store: Any) -> None:
    keys = list(store.client.scan_iter(match=f"{REDIS_PREFIX}:*", count=1000))
    for start in range(0, len(keys), 500):
        store.client.delete(*keys[start : start + 500])


@contextlib.contextmanager
def _memory() -> Iterator[QueueStore]:
    from proletarian.adapters.memory import MemoryStore

    yield MemoryStore()


_OPENERS = {
    "postgres": _postgres,
    "mysql": _mysql,
    "sqlite": _sqlite,
    "redis": _redis,
    "memory": _memory,
}
