"""Start-up and outage behaviour against the real servers: a worker started while its server is
unreachable keeps trying with capped backoff, reports it, and recovers; a LISTEN connection
terminated on the server is re-established; an exhausted connection pool makes threads wait
(or report and retry) until connections come back."""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

import proletarian
from proletarian import JobStatus, NewJob, QueueWorker, StoreUnavailable
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.mysql import MySQLStore
from proletarian.adapters.postgres import PostgresLeasedClaim, PostgresListener, PostgresStore
from proletarian.adapters.postgres.claim import PostgresClaim
from proletarian.adapters.redis import RedisStore
from proletarian.ports.store import QueueStore
from proletarian.testing import CapturingLog
from proletarian.worker import queue_worker
from tests.fault.soak import until
from tests.fault.tcp_proxy import TcpProxy
from tests.fixtures import postgres as pg_fixtures
from tests.fixtures import redis as redis_fixtures
from tests.fixtures.mysql import execute
from tests.fixtures.servers import MYSQL_URL, REDIS_URL, require

pytestmark = pytest.mark.fault

CAP = 0.4  # the worker's backoff cap during these tests (30 s in production), in seconds
JOB_TABLE = "proletarian_outage_job"
ARCHIVED_JOB_TABLE = "proletarian_outage_archived_job"
MYSQL_TABLES = {"job_table": JOB_TABLE, "archived_job_table": ARCHIVED_JOB_TABLE}


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> float:
    """A small backoff cap, so a test sees the backoff reach it within seconds."""
    monkeypatch.setattr(queue_worker, "MAX_STORE_BACKOFF", CAP)
    return CAP


class Recorder(CapturingLog):
    """Keeps every event and the job ids each handler call saw."""

    def __init__(self) -> None:
        super().__init__()
        self._runs_lock = threading.Lock()
        self.runs: Counter[str] = Counter()

    def handle(self, job_type: str, payload: Any) -> None:
        with self._runs_lock:
            self.runs[payload["id"]] += 1

    def count(self, event: str) -> int:
        return len(self.of(event))


def new_jobs(count: int, tag: str) -> list[NewJob]:
    return [NewJob(job_type="t", payload={"id": f"{tag}-{i}"}) for i in range(count)]


def succeeded(store: QueueStore) -> int:
    stats = store.stats().get("default")
    return 0 if stats is None else stats.succeeded


# -- a worker started while its server is unreachable --------------------------------------------


@contextmanager
def postgres_stores(tmp_path: Path, proxy: TcpProxy) -> Iterator[tuple[QueueStore, QueueStore]]:
    """A store reaching the server directly, and one through the proxy. PostgresStore.connect
    fails fast while the server is unreachable, unless told not to wait: then its pool keeps
    reconnecting in the background."""
    with pg_fixtures.open_store(SystemClock(), tmp_path) as direct:
        conninfo = make_conninfo(pg_fixtures.TEST_URL, host="127.0.0.1", port=str(proxy.port))
        with pytest.raises(StoreUnavailable):
            PostgresStore.connect(conninfo, schema=pg_fixtures.SCHEMA)
        worker_store = PostgresStore.connect(
            conninfo, schema=pg_fixtures.SCHEMA, max_size=4, timeout=0.5, wait=False
        )
        try:
            yield direct, worker_store
        finally:
            worker_store.close()


@contextmanager
def mysql_direct() -> Iterator[MySQLStore]:
    """A store over empty tables of this module's own in the test database."""
    require("mysql")
    direct = MySQLStore.connect(MYSQL_URL, **MYSQL_TABLES)
    try:
        direct.install_schema()
        execute(f"DELETE FROM `{JOB_TABLE}`")
        execute(f"DELETE FROM `{ARCHIVED_JOB_TABLE}`")
        yield direct
    finally:
        direct.close()


@contextmanager
def mysql_stores(tmp_path: Path, proxy: TcpProxy) -> Iterator[tuple[QueueStore, QueueStore]]:
    """MySQLStore connects on first use, so it is built while the server is unreachable."""
    with mysql_direct() as direct:
        through = urlsplit(MYSQL_URL)._replace(netloc=f"root@127.0.0.1:{proxy.port}").geturl()
        worker_store = MySQLStore.connect(through, **MYSQL_TABLES)
        try:
            yield direct, worker_store
        finally:
            worker_store.close()


@contextmanager
def redis_stores(tmp_path: Path, proxy: TcpProxy) -> Iterator[tuple[QueueStore, QueueStore]]:
    with redis_fixtures.open_store(SystemClock(), tmp_path) as direct:
        through = urlsplit(REDIS_URL)._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        worker_store = RedisStore.connect(through, prefix=direct.prefix)
        try:
            yield direct, worker_store
        finally:
            worker_store.close()


SERVERS: dict[str, tuple[tuple[str, int], Callable[..., Any]]] = {
    "postgres": (("127.0.0.1", 5432), postgres_stores),
    "mysql": (("127.0.0.1", 3306), mysql_stores),
    "redis": (("127.0.0.1", 6379), redis_stores),
}


def backoff_steps(events: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, list[float]]:
    """The retry_in of each worker thread's store_unavailable events, in order, up to the
    thread's first store_recovered."""
    steps: dict[str, list[float]] = {}
    recovered: set[str] = set()
    for name, data in events:
        if name == "store_recovered":
            recovered.add(data["worker_id"])
        elif name == "store_unavailable" and data["worker_id"] not in recovered:
            steps.setdefault(data["worker_id"], []).append(data["retry_in"])
    return steps


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_worker_started_while_server_is_unreachable_recovers(
    kind: str, tmp_path: Path, capped: float
) -> None:
    """A worker started while its server refuses connections reports store_unavailable with a
    backoff that doubles up to the cap and stays there, runs nothing, and once the server is
    reachable runs every job exactly once and reports store_recovered."""
    target, stores = SERVERS[kind]
    recorder = Recorder()
    with TcpProxy(target) as proxy, stores(tmp_path, proxy) as (direct, worker_store):
        ids = proletarian.enqueue_many(direct, new_jobs(20, "before"))
        worker = QueueWorker(
            worker_store,
            recorder.handle,
            threads=2,
            polling_interval=timedelta(milliseconds=100),
            log=recorder,
        )
        with worker:
            until(
                lambda: (
                    all(
                        steps.count(capped) >= 2
                        for steps in backoff_steps(recorder.events).values()
                    )
                    and len(backoff_steps(recorder.events)) == 2
                ),
                "both threads to back off to the cap twice",
                timeout=60,
            )
            assert succeeded(direct) == 0
            assert not recorder.runs
            proxy.up()
            until(lambda: succeeded(direct) == 20, "every job to succeed", timeout=60)
            # A thread still backing off reports its recovery at its next claim.
            until(
                lambda: (
                    {data["worker_id"] for data in recorder.of("store_recovered")}
                    == set(backoff_steps(recorder.events))
                ),
                "each thread to report its recovery",
                timeout=60,
            )
            assert worker.interrupted is None
        for job_id in ids:
            job = direct.get_job(job_id)
            assert job is not None
            assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
    assert recorder.runs == Counter({f"before-{i}": 1 for i in range(20)})
    steps_by_thread = backoff_steps(recorder.events)
    for steps in steps_by_thread.values():
        # 0.05, 0.1, 0.2, ... doubling until the cap, then the cap again and again.
        expected = [min(queue_worker.MIN_STORE_BACKOFF * 2**k, capped) for k in range(len(steps))]
        assert steps == pytest.approx(expected)
    assert {data["worker_id"] for data in recorder.of("store_recovered")} == set(steps_by_thread)


# -- a LISTEN connection terminated on the server ------------------------------------------------


class WatchedStore(PostgresStore):
    """Says when the worker listens, and counts the claims made, so the test can order its
    steps."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listens: queue.Queue[None] = queue.Queue()
        self._claimed = threading.Condition()
        self.claims = 0

    def listen(self, queues: Sequence[str]) -> PostgresListener:
        listener = super().listen(queues)
        self.listens.put(None)
        return listener

    def claim(
        self, queues: Sequence[str], *, worker_id: str
    ) -> PostgresClaim | PostgresLeasedClaim | None:
        try:
            return super().claim(queues, worker_id=worker_id)
        finally:
            with self._claimed:
                self.claims += 1
                self._claimed.notify_all()

    def wait_claims(self, count: int, timeout: float) -> bool:
        with self._claimed:
            return self._claimed.wait_for(lambda: self.claims >= count, timeout)


def listener_backends() -> list[int]:
    with pg_fixtures.admin() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
            "AND query LIKE 'LISTEN %%'",
            (pg_fixtures.APPLICATION,),
        ).fetchall()
    return [int(pid) for (pid,) in rows]


def test_terminated_listen_connection_is_reestablished(tmp_path: Path) -> None:
    """When the server terminates the worker's LISTEN connection, the worker reports
    listener_lost, listens again on a new connection, and a job enqueued afterwards still wakes
    it: with an hour-long polling interval only the notification can."""
    recorder = Recorder()
    with ExitStack() as stack:
        direct = stack.enter_context(pg_fixtures.open_store(SystemClock(), tmp_path))
        store = WatchedStore.connect(pg_fixtures.TEST_URL, schema=pg_fixtures.SCHEMA)
        stack.callback(store.close)
        # One thread: once it is idle, only a hint (a notification, or the one a new listener
        # gives) can make it claim again before the hour is up.
        worker = QueueWorker(
            store, recorder.handle, polling_interval=timedelta(hours=1), log=recorder
        )
        stack.enter_context(worker)
        store.listens.get(timeout=30)
        proletarian.enqueue_many(direct, new_jobs(1, "first"))
        until(lambda: succeeded(direct) == 1, "the first job to run", timeout=30)
        until(lambda: len(listener_backends()) == 1, "the LISTEN to show on the server", timeout=30)
        (old,) = listener_backends()
        assert worker.wait_idle(30)
        claims = store.claims
        with pg_fixtures.admin() as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (old,))
        store.listens.get(timeout=30)
        # The new listener hints once (jobs may have come meanwhile): let that claim happen
        # and the thread go idle again, so that only a notification can wake it next.
        assert store.wait_claims(claims + 1, timeout=30)
        assert worker.wait_idle(30)
        proletarian.enqueue_many(direct, new_jobs(1, "second"))
        until(lambda: succeeded(direct) == 2, "the second job to be woken and run", timeout=30)
        assert listener_backends() not in ([], [old])
    assert recorder.count("listener_lost") >= 1
    assert recorder.runs == Counter({"first-0": 1, "second-0": 1})


# -- pool exhaustion ------------------------------------------------------------------------------


class Holder(Recorder):
    """The job {"id": "hold"} keeps its connection until a thread reported the pool empty."""

    def __init__(self) -> None:
        super().__init__()
        self.starved = threading.Event()

    def __call__(self, event: str, data: Mapping[str, Any]) -> None:
        super().__call__(event, data)
        if event == "store_unavailable":
            self.starved.set()

    def handle(self, job_type: str, payload: Any) -> None:
        super().handle(job_type, payload)
        if payload["id"] == "hold":
            assert self.starved.wait(30), "no thread reported the exhausted pool"


def run_starved(store: QueueStore, direct: QueueStore, recorder: Recorder, count: int) -> None:
    """Four threads over a one-connection pool work `count` jobs and the holding job."""
    proletarian.enqueue(direct, "t", {"id": "hold"})
    proletarian.enqueue_many(direct, new_jobs(count, "job"))
    worker = QueueWorker(
        store, recorder.handle, threads=4, polling_interval=timedelta(milliseconds=50), log=recorder
    )
    with worker:
        until(lambda: succeeded(direct) == count + 1, "every job to succeed", timeout=120)
        until(
            lambda: not recorder.count("store_unavailable") or recorder.count("store_recovered"),
            "a starved thread to report its recovery",
            timeout=60,
        )
        assert worker.interrupted is None
    want = Counter({f"job-{i}": 1 for i in range(count)})
    want["hold"] = 1
    assert recorder.runs == want


def test_postgres_pool_of_one_serves_four_threads(tmp_path: Path) -> None:
    """PostgresStore.connect(max_size=1) under a 4-thread worker: threads wait their turn for
    the one connection and every job runs exactly once."""
    recorder = Recorder()
    with pg_fixtures.open_store(SystemClock(), tmp_path) as direct:
        store = PostgresStore.connect(pg_fixtures.TEST_URL, schema=pg_fixtures.SCHEMA, max_size=1)
        try:
            proletarian.enqueue_many(direct, new_jobs(200, "job"))
            worker = QueueWorker(store, recorder.handle, threads=4, log=recorder)
            with worker:
                until(lambda: succeeded(direct) == 200, "every job to succeed", timeout=120)
        finally:
            store.close()
    assert recorder.runs == Counter({f"job-{i}": 1 for i in range(200)})
    assert recorder.count("store_unavailable") == 0


def test_postgres_pool_timeout_is_reported_and_recovered(tmp_path: Path) -> None:
    """With one pooled connection held by a long job, the other threads time out waiting,
    report store_unavailable, back off, and finish every job once the connection is back."""
    holder = Holder()
    with pg_fixtures.open_store(SystemClock(), tmp_path) as direct:
        pool: ConnectionPool[Any] = ConnectionPool(
            pg_fixtures.TEST_URL, min_size=1, max_size=1, timeout=0.3, open=False
        )
        pool.open(wait=True)
        try:
            run_starved(PostgresStore(pool, schema=pg_fixtures.SCHEMA), direct, holder, 100)
        finally:
            pool.close()
    assert holder.count("store_recovered") >= 1


def test_mysql_pool_timeout_is_reported_and_recovered(tmp_path: Path) -> None:
    """MySQLStore(pool_size=1, pool_timeout=0.3): the same, on MariaDB."""
    holder = Holder()
    with mysql_direct() as direct:
        store = MySQLStore.connect(MYSQL_URL, pool_size=1, pool_timeout=0.3, **MYSQL_TABLES)
        try:
            run_starved(store, direct, holder, 100)
        finally:
            store.close()
    assert holder.count("store_recovered") >= 1


# -- the pool PostgresStore.connect builds: bounded waits and reconnection backoff ------------


def test_postgres_pool_reconnects_within_the_worker_backoff_cap(tmp_path: Path) -> None:
    """The pool PostgresStore.connect builds gives up a reconnection attempt (and starts a
    fresh one at the next demand) no later than the worker's backoff cap, so a worker resumes
    within the cap of the server's return however long the outage was."""
    with pg_fixtures.open_store(SystemClock(), tmp_path) as store:
        assert store.pool.reconnect_timeout <= queue_worker.MAX_STORE_BACKOFF


def test_postgres_worker_stops_promptly_during_an_outage(tmp_path: Path) -> None:
    """A worker whose server went away stops within its shutdown timeout: no job is running,
    so no thread should be left behind."""
    events = Recorder()
    with (
        pg_fixtures.open_store(SystemClock(), tmp_path),
        TcpProxy(("127.0.0.1", 5432)) as proxy,
    ):
        proxy.up()
        conninfo = make_conninfo(pg_fixtures.TEST_URL, host="127.0.0.1", port=str(proxy.port))
        store = PostgresStore.connect(conninfo, schema=pg_fixtures.SCHEMA)
        try:
            proxy.down()
            worker = QueueWorker(store, events.handle, threads=2, log=events)
            worker.start()
            until(lambda: events.count("listener_lost") >= 1, "the outage to be seen", timeout=30)
            # The pool waits at most 5 s for a connection, half the default shutdown_timeout.
            stopped = worker.stop()
        finally:
            store.close()  # wakes the threads still waiting for a connection
        assert stopped, f"stragglers: {events.of('shutdown_stragglers')}"
