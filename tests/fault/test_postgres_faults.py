"""Real faults against PostgresStore: a worker process SIGKILLed mid-job, and every connection
of a running worker terminated on the server. End states only: each job archived exactly once,
its handler's writes committed exactly once."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import proletarian
from proletarian import Job, JobContext, JobStatus, NewJob, QueueWorker
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.postgres import PostgresStore
from proletarian.testing import CapturingLog
from tests.fixtures.postgres import (
    APPLICATION,
    SCHEMA,
    TEST_URL,
    ListeningStore,
    admin,
    open_store,
    worker_processes,
)

pytestmark = pytest.mark.fault


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    with open_store(SystemClock(), tmp_path) as opened, admin() as conn:
        conn.execute(f"CREATE TABLE {SCHEMA}.run (job_id text NOT NULL, pid int NOT NULL)")
        yield opened


def count(query: str) -> list[tuple[Any, ...]]:
    with admin() as conn:
        return conn.execute(query).fetchall()


def assert_each_done_once(ids: list[str]) -> None:
    """Every job archived as succeeded once, its run row committed once, the queue empty."""
    archived = count(
        f"SELECT job_id::text, status, count(*) FROM {SCHEMA}.archived_job GROUP BY 1, 2"
    )
    assert sorted(archived) == sorted((job_id, "succeeded", 1) for job_id in ids)
    runs = count(f"SELECT job_id, count(*) FROM {SCHEMA}.run GROUP BY 1")
    assert sorted(runs) == sorted((job_id, 1) for job_id in ids)
    assert count(f"SELECT count(*) FROM {SCHEMA}.job") == [(0,)]


CLAIMS = pytest.mark.parametrize("claims", [(), ("--lease", "1")], ids=["transactional", "leased"])


@CLAIMS
def test_job_of_a_killed_worker_process_is_done_by_the_next_once(
    store: PostgresStore, claims: tuple[str, ...]
) -> None:
    """A job whose worker process is SIGKILLed mid-run comes back: at once with transactional
    claims (the server aborts the dead worker's transaction), after the lease with leased
    claims. The next worker counts the abandoned attempt, runs the job, and it is archived
    once."""
    job_id = proletarian.enqueue(store, "t", {"hang": True})
    with worker_processes() as workers:
        victim = workers.start("--hang", *claims)
        assert workers.expect("started") == (victim, ["started", job_id])
        others = proletarian.enqueue_many(
            store, [NewJob(job_type="t", payload={"i": i}) for i in range(20)]
        )
        running = store.get_job(job_id)
        assert running is not None
        assert running.status is JobStatus.RUNNING
        workers.kill(victim)
        rescuer = workers.start("--threads", "2", *claims)
        finished: dict[str, int] = {}
        for _ in range(len(others) + 1):
            index, words = workers.expect("job_succeeded")
            assert index == rescuer
            finished[words[1]] = finished.get(words[1], 0) + 1
        assert workers.stop(rescuer) == 0
    assert finished == dict.fromkeys([job_id, *others], 1)
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.abandons) == (JobStatus.SUCCEEDED, 1, 1)
    assert_each_done_once([job_id, *others])


@CLAIMS
def test_job_that_kills_every_worker_ends_failed_while_the_queue_flows(
    store: PostgresStore, claims: tuple[str, ...]
) -> None:
    """A job that SIGKILLs each worker running it (first in its queue: every restarted worker
    takes it as soon as it is due) is counted each time it kills one, and the worker that
    claims it after max_abandons (3) kills archives it FAILED as JobAbandoned without running
    it; the other jobs of the queue all succeed, each once."""
    job_id = proletarian.enqueue(store, "t", {"kill": True})
    others = proletarian.enqueue_many(
        store, [NewJob(job_type="t", payload={"i": i}) for i in range(20)]
    )
    with worker_processes() as workers:
        for _ in range(3):
            # A leased job comes back when its lease ends; the worker runs others meanwhile.
            assert workers.wait(workers.start(*claims)) == -signal.SIGKILL
        last = workers.start(*claims)
        assert workers.expect("job_abandoned") == (last, ["job_abandoned", job_id, "1"])
        assert workers.expect("job_failed") == (last, ["job_failed", job_id, "1"])
        succeeded = [workers.expect("job_succeeded")[1][1] for _ in others]
        assert workers.stop(last) == 0
    assert sorted(succeeded) == sorted(others)
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.abandons) == (JobStatus.FAILED, 3)
    assert job.error is not None
    assert job.error.type == "JobAbandoned"
    assert "abandoned 3 times" in job.error.message
    runs = count(f"SELECT job_id, count(*) FROM {SCHEMA}.run GROUP BY 1")
    assert sorted(runs) == sorted((other, 1) for other in others)
    archived = count(
        f"SELECT status, count(*) FROM {SCHEMA}.archived_job WHERE job_id <> '{job_id}' GROUP BY 1"
    )
    assert archived == [("succeeded", len(others))]
    assert count(f"SELECT count(*) FROM {SCHEMA}.job") == [(0,)]


class SucceededLog(CapturingLog):
    """Keeps every event, and says when `total` jobs have succeeded."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self.all_succeeded = threading.Event()

    def __call__(self, event: str, data: Mapping[str, Any]) -> None:
        super().__call__(event, data)
        if event == "job_succeeded" and len(self.of("job_succeeded")) >= self.total:
            self.all_succeeded.set()


def test_worker_survives_its_backends_being_terminated(store: PostgresStore) -> None:
    """When the server terminates every connection of a running worker (the job's open
    transaction, idle pool connections, the listener), the worker reports the store
    unavailable, reconnects, reruns the interrupted job, and finishes every job once."""
    started, go = threading.Event(), threading.Event()
    blocked_once: list[str] = []

    def handle(job: Job, ctx: JobContext) -> None:
        assert isinstance(ctx.connection, psycopg.Connection)
        ctx.connection.execute(f"INSERT INTO {SCHEMA}.run (job_id, pid) VALUES (%s, 0)", (job.id,))
        if job.payload == "block" and not blocked_once:
            blocked_once.append(job.id)
            started.set()
            assert go.wait(30)

    worker_store = ListeningStore.connect(TEST_URL, schema=SCHEMA)
    blocking = proletarian.enqueue(store, "t", "block")
    log = SucceededLog(total=21)
    worker = QueueWorker(
        worker_store,
        handle,
        threads=2,
        handler_mode="advanced",
        polling_interval=timedelta(milliseconds=200),
        log=log,
    )
    try:
        with worker:
            assert worker_store.listening.wait(10)
            assert started.wait(10)
            with admin() as conn:
                terminated = conn.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE application_name = %s "
                    "AND pid <> pg_backend_pid()",
                    (APPLICATION,),
                ).fetchone()
            # The claim's transaction, the listener, and the pool's idle connections.
            assert terminated is not None
            assert terminated[0] >= 3
            with psycopg.connect(TEST_URL) as app_conn:
                others = proletarian.enqueue_many(
                    store, [NewJob(job_type="t", payload=i) for i in range(20)], conn=app_conn
                )
            go.set()
            assert log.all_succeeded.wait(60)
    finally:
        worker_store.close()
    names = log.names()
    assert "store_unavailable" in names
    assert "listener_lost" in names
    assert [data["job_id"] for data in log.of("job_claimed")].count(blocking) == 2
    assert_each_done_once([blocking, *others])
