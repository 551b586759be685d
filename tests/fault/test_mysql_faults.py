"""Real faults against MySQLStore on the machine's MariaDB: SIGKILL of a worker process mid-job,
and KILL of a worker's connections on the server. Every job ends archived exactly once."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pymysql
import pytest
from pymysql.err import MySQLError

import proletarian
from proletarian import (
    Job,
    JobContext,
    JobStatus,
    NewJob,
    QueueWorker,
    RetryPolicy,
    StoreUnavailable,
)
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.mysql import MySQLStore
from proletarian.testing import CapturingLog
from tests.fixtures.mysql import (
    ARCHIVED_JOB_TABLE,
    EFFECT_TABLE,
    JOB_TABLE,
    WorkerProcess,
    execute,
    open_store,
    reset_app_tables,
    wait_for,
)
from tests.fixtures.servers import MYSQL_URL

pytestmark = pytest.mark.fault


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MySQLStore]:
    # No delay after an abandoned careful claim: the killed claims' jobs are due at once.
    with open_store(SystemClock(), tmp_path, crash_delay=timedelta(0)) as store:
        reset_app_tables()
        yield store


def archived() -> dict[str, tuple[str, int]]:
    """Every archived job: id -> (status, attempts)."""
    rows = execute(f"SELECT HEX(job_id), status, attempts FROM `{ARCHIVED_JOB_TABLE}`")
    return {str(uuid.UUID(hex=h)): (status, attempts) for h, status, attempts in rows}


def queued() -> int:
    return int(execute(f"SELECT COUNT(*) FROM `{JOB_TABLE}`")[0][0])


def effects() -> dict[str, int]:
    """How many committed handler runs each job has."""
    rows = execute(f"SELECT job_id, COUNT(*) FROM `{EFFECT_TABLE}` GROUP BY job_id")
    return {job_id: count for job_id, count in rows}


def kill_connection(connection_id: int) -> None:
    try:
        execute(f"KILL {int(connection_id)}")
    except MySQLError as exc:
        if exc.args[0] != 1094:  # unknown thread id: that connection is already gone
            raise


def connection_id(conn: pymysql.connections.Connection) -> int:
    with conn.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def test_job_of_a_sigkilled_worker_is_done_by_the_next_once(store: MySQLStore) -> None:
    """A worker process SIGKILLed mid-job loses its transaction: the next worker runs the job,
    which is archived exactly once with one attempt, and the dead run's write is gone."""
    hang = proletarian.enqueue(store, "t", {"action": "hang"})
    others = proletarian.enqueue_many(
        store, [NewJob(job_type="t", payload={"action": "ok"}) for _ in range(20)]
    )
    with WorkerProcess("--hang") as victim:
        victim.expect("ready")
        assert victim.expect("started") == f"started {hang}"
        assert victim.kill() == -signal.SIGKILL
    with WorkerProcess("--threads", "2") as rescuer:
        rescuer.expect("ready")
        wait_for(lambda: len(archived()) == 21, timeout=60, what="21 archived jobs")
        assert rescuer.stop() == 0
    assert archived() == dict.fromkeys([hang, *others], ("succeeded", 1))
    assert queued() == 0
    assert effects() == dict.fromkeys([hang, *others], 1)


def test_outcome_on_a_killed_connection_is_unavailable_and_the_job_comes_back(
    store: MySQLStore,
) -> None:
    """When the server kills a claim's connection, the outcome raises StoreUnavailable, the
    connection leaves the pool, and the job is due again, its attempt uncounted and (the
    worker's first claim being careful) its abandonment counted."""
    job_id = proletarian.enqueue(store, "t", None)
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    kill_connection(connection_id(claim.connection))
    with pytest.raises(StoreUnavailable):
        claim.succeed()
    assert store._pool.in_use == 0
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.abandons) == (JobStatus.READY, 0, 1)
    again = store.claim(["default"], worker_id="w")
    assert again is not None
    again.succeed()
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.abandons) == (JobStatus.SUCCEEDED, 1, 1)


def test_abandon_on_a_killed_connection_gives_the_job_back_quietly(store: MySQLStore) -> None:
    """Abandoning a claim whose connection the server killed raises nothing (the server rolled
    the claim back already) and leaves no connection out of the pool; the careful first claim's
    count stays, as for any abandoned claim."""
    job_id = proletarian.enqueue(store, "t", None)
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    kill_connection(connection_id(claim.connection))
    claim.abandon()
    assert store._pool.in_use == 0
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.abandons) == (JobStatus.READY, 0, 1)


def test_job_that_kills_every_worker_ends_failed_while_the_queue_flows(
    store: MySQLStore,
) -> None:
    """A job that SIGKILLs each worker running it is counted by the careful first claim of each
    restarted worker (InnoDB keeps no trace of the dead transaction), and the worker that
    claims it after max_abandons (3) kills archives it FAILED as JobAbandoned without running
    it; the other jobs of the queue all succeed, each once."""
    poison = proletarian.enqueue(store, "t", {"action": "kill"})
    others = proletarian.enqueue_many(
        store, [NewJob(job_type="t", payload={"action": "ok"}) for _ in range(20)]
    )
    for _ in range(3):
        with WorkerProcess("--crash-delay", "0") as worker:
            worker.expect("ready")
            assert worker.expect("started") == f"started {poison}"
            assert worker.proc.wait(timeout=30) == -signal.SIGKILL
    with WorkerProcess("--crash-delay", "0") as last:
        last.expect("ready")
        assert last.expect("job_abandoned") == f"job_abandoned {poison}"
        wait_for(lambda: len(archived()) == 21, timeout=60, what="21 archived jobs")
        assert last.stop() == 0
    assert archived() == {poison: ("failed", 1), **dict.fromkeys(others, ("succeeded", 1))}
    assert effects() == dict.fromkeys(others, 1)
    job = store.get_job(poison)
    assert job is not None
    assert job.abandons == 3
    assert job.error is not None
    assert job.error.type == "JobAbandoned"


def test_worker_survives_kill_of_its_connections(store: MySQLStore) -> None:
    """A worker whose connection is KILLed mid-job, and later whose idle pooled connections are
    KILLed, reconnects and finishes every job, each archived and committed exactly once."""
    held = threading.Event()
    release = threading.Event()
    seen: set[int] = set()
    holder: list[int] = []
    lock = threading.Lock()

    def handle(job: Job, ctx: JobContext) -> None:
        conn = ctx.connection
        assert isinstance(conn, pymysql.connections.Connection)
        with conn.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO `{EFFECT_TABLE}` (job_id, pid) VALUES (%s, %s)", (job.id, os.getpid())
            )
        own = connection_id(conn)
        with lock:
            seen.add(own)
            hold = job.payload == "hold" and not holder
            if hold:
                holder.append(own)
        if hold:
            held.set()
            release.wait(30)

    first = proletarian.enqueue(store, "t", "hold")
    ids = [
        first,
        *proletarian.enqueue_many(store, [NewJob(job_type="t", payload=i) for i in range(29)]),
    ]
    log = CapturingLog()
    # The worker has a store (and pool) of its own, as in a worker process; `store` produces.
    worker_store = MySQLStore.connect(
        MYSQL_URL, job_table=JOB_TABLE, archived_job_table=ARCHIVED_JOB_TABLE
    )
    worker = QueueWorker(
        worker_store,
        handle,
        threads=2,
        handler_mode="advanced",
        polling_interval=timedelta(milliseconds=50),
        log=log,
    )
    with closing(worker_store), worker:
        assert held.wait(30)
        kill_connection(holder[0])
        release.set()
        wait_for(lambda: len(archived()) == 30, timeout=60, what="30 archived jobs")
        assert log.of("store_unavailable")
        with lock:
            killed = sorted(seen)
        for connection in killed:
            kill_connection(connection)
        ids += proletarian.enqueue_many(store, [NewJob(job_type="t", payload=i) for i in range(10)])
        wait_for(lambda: len(archived()) == 40, timeout=60, what="40 archived jobs")
    assert log.of("store_recovered")
    assert archived() == dict.fromkeys(ids, ("succeeded", 1))
    assert queued() == 0
    assert effects() == dict.fromkeys(ids, 1)


def test_a_cut_of_a_claim_whose_connection_died_is_no_worker_error(store: MySQLStore) -> None:
    """A hung handler whose claim's connection the server killed meanwhile is still cut
    cleanly (the attempt recorded as JobTimeout, or the claim reported lost): no worker_error,
    and the job then succeeds once."""
    hung = threading.Event()
    holder: list[int] = []

    def handle(job: Job, ctx: JobContext) -> None:
        if not holder:
            conn = ctx.connection
            assert isinstance(conn, pymysql.connections.Connection)
            holder.append(connection_id(conn))
            hung.set()
            threading.Event().wait(3)  # deaf to ctx.stopping, past the timeout and grace

    job_id = proletarian.enqueue(store, "t", None)
    log = CapturingLog()
    worker_store = MySQLStore.connect(
        MYSQL_URL,
        job_table=JOB_TABLE,
        archived_job_table=ARCHIVED_JOB_TABLE,
        crash_delay=timedelta(0),
    )
    worker = QueueWorker(
        worker_store,
        handle,
        handler_mode="advanced",
        retry=RetryPolicy(retries=1),
        timeout=timedelta(milliseconds=300),
        timeout_grace=timedelta(milliseconds=300),
        polling_interval=timedelta(milliseconds=50),
        log=log,
    )
    with closing(worker_store), worker:
        assert hung.wait(30)
        kill_connection(holder[0])
        wait_for(lambda: len(archived()) == 1, timeout=60, what="the job archived")
        wait_for(lambda: bool(log.of("job_timed_out")), timeout=60, what="the cut")
    assert [e["error"] for e in log.of("worker_error")] == []
    assert archived()[job_id][0] == "succeeded"
    assert queued() == 0
