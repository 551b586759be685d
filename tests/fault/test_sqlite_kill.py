"""SIGKILL of SQLite worker processes mid-job: leases bring the job back, exactly once, and a job
that kills every worker runs out of attempts."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

import proletarian
from proletarian import JobStatus, NewJob
from proletarian.adapters.sqlite import SQLiteStore
from tests.fixtures.sqlite import worker_processes

pytestmark = pytest.mark.fault


def archived_rows(db: Path, job_id: str) -> tuple[int, int]:
    """How many rows the job has in the queue table and in the archive."""
    conn = sqlite3.connect(db)
    try:
        queued = conn.execute("SELECT count(*) FROM job WHERE job_id = ?", (job_id,)).fetchone()
        archived = conn.execute(
            "SELECT count(*) FROM archived_job WHERE job_id = ?", (job_id,)
        ).fetchone()
    finally:
        conn.close()
    return queued[0], archived[0]


def test_job_of_a_killed_worker_is_finished_by_another_once(tmp_path: Path) -> None:
    """A job whose worker is SIGKILLed mid-run is run again by another process once the lease
    lapses, and is archived exactly once, the dead worker's attempt counted as abandoned."""
    db = tmp_path / "jobs.db"
    store = SQLiteStore(db)
    try:
        with worker_processes(db, lease=1.0) as workers:
            victim = workers.start()
            job_id = proletarian.enqueue(store, "t", {"action": "hang_first"})
            workers.expect("started", worker=victim)
            others = proletarian.enqueue_many(
                store, [NewJob(job_type="t", payload={"action": "ok"}) for _ in range(20)]
            )
            workers.kill(victim)
            rescuer = workers.start()
            finished: dict[str, int] = {}
            for _ in range(len(others) + 1):
                _, words = workers.expect("job_succeeded", worker=rescuer)
                finished[words[1]] = finished.get(words[1], 0) + 1
            assert workers.stop(rescuer) == 0
        assert finished == dict.fromkeys([job_id, *others], 1)
        job = store.get_job(job_id)
        assert job is not None
        assert (job.status, job.attempts, job.abandons) == (JobStatus.SUCCEEDED, 1, 1)
        assert archived_rows(db, job_id) == (0, 1)
    finally:
        store.close()


def test_job_that_kills_every_worker_ends_failed_as_abandoned(tmp_path: Path) -> None:
    """A job that SIGKILLs each worker running it is counted abandoned each time, and failed as
    JobAbandoned, unrun, by the worker that claims it after max_abandons (3) kills, instead of
    running forever."""
    db = tmp_path / "jobs.db"
    store = SQLiteStore(db)
    try:
        job_id = proletarian.enqueue(store, "t", {"action": "kill"})
        with worker_processes(db, lease=1.0) as workers:
            for abandons in range(3):
                worker = workers.start()
                _, words = workers.expect("started", worker=worker)
                assert words[1:] == [job_id, str(abandons)]
                assert workers.wait(worker) == -signal.SIGKILL
            last = workers.start()
            workers.expect("job_abandoned", worker=last)
            _, words = workers.expect("job_failed", worker=last)
            assert words[1:] == [job_id, "1"]
            assert workers.stop(last) == 0
        job = store.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.FAILED
        assert job.error is not None
        assert job.error.type == "JobAbandoned"
        assert (job.attempts, job.abandons) == (1, 3)
        assert archived_rows(db, job_id) == (0, 1)
    finally:
        store.close()
