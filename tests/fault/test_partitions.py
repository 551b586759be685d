"""Silent network partitions on PostgreSQL and MySQL: the link stays up but carries nothing,
and nothing is reset (tcp_proxy.TcpProxy.blackhole). A producer gets StoreUnavailable instead
of waiting for the network to return; a worker reports the outage and goes on working once
the network is back. The stores' timeouts are set small here (a fraction of a second, against
30 and 60 s by default), so each test takes seconds.

Calls that could hang run under `returned`, whose guard is a safety net, many times the
timeouts under test: it turns a hang into a failure, and measures nothing.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from psycopg.conninfo import make_conninfo

import proletarian
from proletarian import JobStatus, QueueWorker, StoreUnavailable
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.mysql import MySQLStore
from proletarian.adapters.postgres import PostgresStore
from proletarian.cli import main
from proletarian.ports.store import QueueStore
from proletarian.testing import CapturingLog
from proletarian.worker import queue_worker
from tests.fault.soak import until
from tests.fault.tcp_proxy import TcpProxy
from tests.fixtures import mysql as mysql_fixtures
from tests.fixtures import postgres as pg_fixtures
from tests.fixtures.servers import MYSQL_URL, POSTGRES_URL

pytestmark = pytest.mark.fault

READ_TIMEOUT = 0.5  # seconds; the stores' read_timeout in these tests
POOL_TIMEOUT = 1.0  # seconds to wait for a pool connection
# psycopg never waits less than 2 s to connect; PyMySQL takes fractions.
CONNECT_TIMEOUT = {"postgres": 2, "mysql": 0.5}
GUARD = 60.0  # seconds before a call still blocked fails the test
TARGETS = {"postgres": ("127.0.0.1", 5432), "mysql": ("127.0.0.1", 3306)}
KINDS = sorted(TARGETS)


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small backoff cap (30 s in production), so the worker tries again within a second."""
    monkeypatch.setattr(queue_worker, "MAX_STORE_BACKOFF", 0.4)


def returned(call: Callable[[], Any], what: str) -> Any:
    """What `call` returned or raised, run on a thread of its own. Fails the test if it is
    still blocked after GUARD seconds."""
    outcome: queue.Queue[Any] = queue.Queue()

    def run() -> None:
        try:
            outcome.put(call())
        except BaseException as exc:  # handed to the test, which asserts on it
            outcome.put(exc)

    threading.Thread(target=run, name=what, daemon=True).start()
    try:
        return outcome.get(timeout=GUARD)
    except queue.Empty:
        pytest.fail(f"{what} was still blocked {GUARD:g}s into a silent partition")


@contextmanager
def postgres_stores(tmp_path: Path, proxy: TcpProxy) -> Iterator[tuple[QueueStore, QueueStore]]:
    """A store reaching the server directly, and one through the proxy with small timeouts."""
    with pg_fixtures.open_store(SystemClock(), tmp_path) as direct:
        conninfo = make_conninfo(
            pg_fixtures.TEST_URL,
            host="127.0.0.1",
            port=str(proxy.port),
            connect_timeout=str(CONNECT_TIMEOUT["postgres"]),
        )
        through = PostgresStore.connect(
            conninfo,
            schema=pg_fixtures.SCHEMA,
            min_size=2,
            max_size=4,
            timeout=POOL_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )
        try:
            yield direct, through
        finally:
            through.close()


@contextmanager
def mysql_stores(tmp_path: Path, proxy: TcpProxy) -> Iterator[tuple[QueueStore, QueueStore]]:
    with mysql_fixtures.open_store(SystemClock(), tmp_path) as direct:
        timeouts = urlencode(
            {
                "connect_timeout": CONNECT_TIMEOUT["mysql"],
                "read_timeout": READ_TIMEOUT,
                "write_timeout": READ_TIMEOUT,
            }
        )
        url = urlsplit(MYSQL_URL)._replace(netloc=f"root@127.0.0.1:{proxy.port}", query=timeouts)
        through = MySQLStore.connect(
            url.geturl(),
            job_table=mysql_fixtures.JOB_TABLE,
            archived_job_table=mysql_fixtures.ARCHIVED_JOB_TABLE,
            pool_timeout=POOL_TIMEOUT,
        )
        try:
            yield direct, through
        finally:
            through.close()


STORES = {"postgres": postgres_stores, "mysql": mysql_stores}


def enqueued_once_back(store: QueueStore, payload: dict[str, str]) -> str:
    """Enqueue as soon as the store can be reached again (its pool may be between attempts
    to reconnect)."""
    ids: list[str] = []

    def attempt() -> bool:
        try:
            ids.append(proletarian.enqueue(store, "t", payload))
        except StoreUnavailable:
            return False
        return True

    until(attempt, "an enqueue to work once the network is back", timeout=GUARD)
    return ids[0]


@pytest.mark.parametrize("kind", KINDS)
def test_producer_gets_store_unavailable_during_a_silent_partition(
    kind: str, tmp_path: Path
) -> None:
    """During a silent partition enqueue and stats() raise StoreUnavailable instead of waiting
    for the network; once it is back, enqueue works again."""
    with TcpProxy(TARGETS[kind]) as proxy:
        proxy.up()
        with STORES[kind](tmp_path, proxy) as (direct, store):
            # The store now holds open, idle connections, as a long-running producer does.
            proletarian.enqueue(store, "t", {"id": "before"})
            proxy.blackhole()
            raised = returned(lambda: proletarian.enqueue(store, "t", {"id": "during"}), "enqueue")
            assert isinstance(raised, StoreUnavailable), raised
            raised = returned(store.stats, "stats()")
            assert isinstance(raised, StoreUnavailable), raised
            proxy.heal()
            job_id = enqueued_once_back(store, {"id": "after"})
            job = direct.get_job(job_id)
            assert job is not None
            assert job.status is JobStatus.READY


class Recorder(CapturingLog):
    """Keeps every event and counts each job's handler runs."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: Counter[str] = Counter()
        self._runs_lock = threading.Lock()

    def handle(self, job_type: str, payload: Any) -> None:
        with self._runs_lock:
            self.runs[payload["id"]] += 1


def succeeded(store: QueueStore) -> int:
    stats = store.stats().get("default")
    return 0 if stats is None else stats.succeeded


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("capped")
def test_idle_worker_silenced_by_a_partition_recovers_when_it_ends(
    kind: str, tmp_path: Path
) -> None:
    """An idle worker whose store goes silent reports store_unavailable (its claims time out
    rather than hang), and once the network is back it runs a job enqueued then, once."""
    recorder = Recorder()
    with TcpProxy(TARGETS[kind]) as proxy:
        proxy.up()
        with STORES[kind](tmp_path, proxy) as (direct, store):
            worker = QueueWorker(
                store,
                recorder.handle,
                threads=2,
                polling_interval=timedelta(milliseconds=100),
                log=recorder,
            )
            with worker:
                assert worker.wait_idle(GUARD)
                proxy.blackhole()
                until(
                    lambda: recorder.of("store_unavailable"),
                    "the worker to find its store silent",
                    timeout=GUARD,
                )
                proxy.heal()
                job_id = proletarian.enqueue(direct, "t", {"id": "after"})
                until(lambda: succeeded(direct) == 1, "the job to run", timeout=GUARD)
                until(
                    lambda: recorder.of("store_recovered"),
                    "the worker to report its recovery",
                    timeout=GUARD,
                )
                assert worker.interrupted is None
            job = direct.get_job(job_id)
            assert job is not None
            assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
    assert recorder.runs == Counter({"after": 1})


def status_url(kind: str, port: int) -> str:
    """The test server's URL through the proxy, with a small connect_timeout of its own."""
    server = urlsplit(POSTGRES_URL if kind == "postgres" else MYSQL_URL)
    query = urlencode({"connect_timeout": CONNECT_TIMEOUT[kind]})
    return server._replace(netloc=f"{server.username}@127.0.0.1:{port}", query=query).geturl()


@pytest.mark.parametrize("kind", KINDS)
def test_status_in_a_silent_partition_exits_with_store_unavailable(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`proletarian status` against a server a partition has silenced (the connection is
    accepted, then nothing answers) fails with "store unavailable" once the URL's
    connect_timeout has passed, instead of waiting for the network."""
    with TcpProxy(TARGETS[kind]) as proxy:
        proxy.up()
        proxy.blackhole()
        code = returned(lambda: main(["status", "--url", status_url(kind, proxy.port)]), "status")
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("proletarian: error: store unavailable"), err
