"""Real faults against the Redis store: a worker process SIGKILLed mid-job, a job that SIGKILLs
every worker running it, its connections killed on the server, Redis unreachable for a while,
and two processes sharing the work."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

import proletarian
from proletarian import Job, JobContext, JobStatus, NewJob, QueueWorker, RetryPolicy
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.redis import RedisStore
from proletarian.adapters.redis.codec import text
from proletarian.testing import CapturingLog
from tests.fault.redis_worker import done_list, killing_list, started_list
from tests.fault.tcp_proxy import TcpProxy
from tests.fixtures.redis import admin_client, new_prefix, open_store
from tests.fixtures.servers import REDIS_URL

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parents[2]


def until(predicate: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """Poll for an end state, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        threading.Event().wait(0.02)


def succeeded(store: RedisStore, queue: str = "default") -> int:
    stats = store.stats().get(queue)
    return 0 if stats is None else stats.succeeded


@contextlib.contextmanager
def worker_processes(
    prefix: str, tmp_path: Path, *, lease: float, threads: int = 1
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start worker processes with the returned function; any still running at exit get
    SIGTERM, then SIGKILL if they don't stop."""
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(processes)}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fault.redis_worker",
                prefix,
                f"--lease={lease}",
                f"--threads={threads}",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        processes.append(process)
        return process

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_job_of_a_sigkilled_worker_is_finished_by_another_after_the_lease(
    tmp_path: Path,
) -> None:
    """A job whose worker process is SIGKILLed mid-run is run by another worker once the lease
    lapses, and is archived exactly once as succeeded, the dead worker's attempt counted as
    abandoned."""
    with open_store(SystemClock(), tmp_path, lease=timedelta(seconds=1)) as store:
        job_id = proletarian.enqueue(store, "t", {"action": "hang_first"})
        with worker_processes(store.prefix, tmp_path, lease=1.0) as start:
            victim = start()
            popped = store.client.blpop([started_list(store.prefix)], timeout=30)
            assert popped is not None
            assert text(popped[1]) == job_id
            running = store.get_job(job_id)
            assert running is not None
            assert running.status is JobStatus.RUNNING
            victim.send_signal(signal.SIGKILL)
            assert victim.wait(timeout=10) == -signal.SIGKILL
            start()
            popped = store.client.blpop([done_list(store.prefix)], timeout=30)
            assert popped is not None
            assert text(popped[1]) == job_id
            until(lambda: succeeded(store) == 1, "the job to be archived")
        job = store.get_job(job_id)
        assert job is not None
        assert (job.status, job.attempts, job.abandons) == (JobStatus.SUCCEEDED, 1, 1)
        stats = store.stats()["default"]
        assert (stats.ready, stats.running, stats.succeeded, stats.failed) == (0, 0, 1, 0)
        assert store.client.zcard(f"{store.prefix}:archive") == 1
        assert store.client.llen(done_list(store.prefix)) == 0


def test_job_that_kills_every_worker_ends_failed_as_abandoned(tmp_path: Path) -> None:
    """A job that SIGKILLs each worker running it is counted abandoned by the claim after each
    kill (its lease expired), and the claim after max_abandons (3) kills archives it FAILED
    as JobAbandoned without running it; the other jobs of its queue each succeed once,
    meanwhile and after."""
    with open_store(SystemClock(), tmp_path, lease=timedelta(seconds=1)) as store:
        job_id = proletarian.enqueue(store, "t", {"action": "kill"})
        others = proletarian.enqueue_many(
            store, [NewJob(job_type="t", payload={"action": "ok"}) for _ in range(20)]
        )
        with worker_processes(store.prefix, tmp_path, lease=1.0) as start:
            for abandons in range(3):
                worker = start()
                popped = store.client.blpop([killing_list(store.prefix)], timeout=30)
                assert popped is not None
                assert text(popped[1]) == f"{job_id} {abandons}"
                assert worker.wait(timeout=10) == -signal.SIGKILL
            last = start()

            def ended() -> bool:
                job = store.get_job(job_id)
                return job is not None and job.status is JobStatus.FAILED

            until(ended, "the job to be refused")
            until(lambda: succeeded(store) == len(others), "the other jobs done")
            last.terminate()
            assert last.wait(timeout=15) == 0
        job = store.get_job(job_id)
        assert job is not None
        assert (job.status, job.attempts, job.abandons) == (JobStatus.FAILED, 1, 3)
        assert job.error is not None
        assert job.error.type == "JobAbandoned"
        assert "abandoned 3 times" in job.error.message
        assert store.client.llen(killing_list(store.prefix)) == 0
        done = [text(item) for item in store.client.lrange(done_list(store.prefix), 0, -1)]
        assert sorted(done) == sorted(others)
        for other in others:
            finished = store.get_job(other)
            assert finished is not None
            assert (finished.status, finished.attempts) == (JobStatus.SUCCEEDED, 1)
        stats = store.stats()["default"]
        assert (stats.ready, stats.running, stats.succeeded, stats.failed) == (0, 0, 20, 1)
        assert store.client.zcard(f"{store.prefix}:archive") == 21


def kill_clients(admin: redis.Redis, name: str) -> int:
    """CLIENT KILL every connection named `name`; returns how many were killed."""
    killed = 0
    for client in admin.client_list():
        if client["name"] == name:
            with contextlib.suppress(redis.ResponseError):  # it closed meanwhile
                admin.client_kill_filter(_id=client["id"])
                killed += 1
    return killed


def test_worker_survives_client_kill_of_its_connections(tmp_path: Path) -> None:
    """A worker whose Redis connections are killed on the server again and again, mid-run,
    keeps going and finishes every job."""
    name = f"pkill-{new_prefix()}"
    jobs = 300
    admin = admin_client()
    with open_store(SystemClock(), tmp_path) as setup:
        store = RedisStore.connect(
            f"{REDIS_URL}?client_name={name}", prefix=setup.prefix, lease=timedelta(seconds=2)
        )
        ids = proletarian.enqueue_many(
            setup, [NewJob(job_type="t", payload=i) for i in range(jobs)]
        )

        def handle(job: Job, ctx: JobContext) -> None:
            ctx.stopping.wait(0.005)  # a little work, so the kills land mid-run

        # Retries let a job whose claim reply was lost (its lease then lapses) run again.
        worker = QueueWorker(
            store,
            handle,
            threads=2,
            handler_mode="advanced",
            retry=RetryPolicy(retries=3),
            polling_interval=timedelta(milliseconds=200),
            log=CapturingLog(),
        )
        killed = 0
        try:
            with worker:
                for target in range(50, jobs, 50):
                    until(lambda: succeeded(setup) >= target, f"{target} jobs done")  # noqa: B023
                    killed += kill_clients(admin, name)
                until(lambda: succeeded(setup) == jobs, "every job done")
                assert worker.interrupted is None
        finally:
            store.close()
            admin.close()
        assert killed >= 5
        for job_id in ids:
            job = setup.get_job(job_id)
            assert job is not None
            assert job.status is JobStatus.SUCCEEDED


def test_worker_recovers_when_redis_comes_back(tmp_path: Path) -> None:
    """While Redis can't be reached the worker reports it and keeps trying; once it is back,
    the worker finishes every job, including those enqueued meanwhile."""
    target = urlsplit(REDIS_URL)
    proxy = TcpProxy((target.hostname or "127.0.0.1", target.port or 6379))
    proxy.up()
    log = CapturingLog()
    with open_store(SystemClock(), tmp_path) as setup:
        url = target._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        store = RedisStore.connect(url, prefix=setup.prefix)
        worker = QueueWorker(
            store,
            lambda job_type, payload: None,
            threads=2,
            polling_interval=timedelta(milliseconds=100),
            log=log,
        )
        try:
            with worker:
                before = [NewJob(job_type="t", payload=i) for i in range(20)]
                ids = proletarian.enqueue_many(setup, before)
                until(lambda: succeeded(setup) == 20, "the first jobs done")
                proxy.down()
                until(
                    lambda: log.of("store_unavailable") and log.of("listener_lost"),
                    "the worker to notice the outage",
                )
                during = [NewJob(job_type="t", payload=i) for i in range(20)]
                ids += proletarian.enqueue_many(setup, during)
                proxy.up()
                until(lambda: succeeded(setup) == 40, "every job done")
                # A thread still in its backoff reports the recovery at its next claim.
                until(lambda: log.of("store_recovered"), "the recovery to be reported")
                assert worker.interrupted is None
        finally:
            store.close()
            proxy.down()
        for job_id in ids:
            job = setup.get_job(job_id)
            assert job is not None
            assert job.status is JobStatus.SUCCEEDED


def test_two_processes_of_four_threads_archive_each_job_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two worker processes of four threads each share the jobs: every job runs once and is
    archived exactly once as succeeded."""
    jobs = request.config.getoption("--stress-jobs") or 2000
    with open_store(SystemClock(), tmp_path) as store:
        ids = proletarian.enqueue_many(
            store, [NewJob(job_type="t", payload={"i": i}) for i in range(jobs)]
        )
        with worker_processes(store.prefix, tmp_path, lease=30.0, threads=4) as start:
            workers = [start(), start()]
            until(lambda: succeeded(store) == jobs, "every job done", timeout=300)
            for process in workers:
                process.terminate()
                assert process.wait(timeout=15) == 0
        done = [text(item) for item in store.client.lrange(done_list(store.prefix), 0, -1)]
        assert sorted(done) == sorted(ids)
        stats = store.stats()["default"]
        assert (stats.ready, stats.running, stats.succeeded, stats.failed) == (0, 0, jobs, 0)
        assert store.client.zcard(f"{store.prefix}:archive") == jobs
        for job_id in ids:
            job = store.get_job(job_id)
            assert job is not None
            assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
