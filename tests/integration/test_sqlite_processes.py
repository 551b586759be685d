"""Several worker processes over one SQLite file."""

from __future__ import annotations

from pathlib import Path

import proletarian
from proletarian import JobStatus, NewJob
from proletarian.adapters.sqlite import SQLiteStore
from tests.fixtures.sqlite import worker_processes


def test_two_processes_claim_distinct_jobs(tmp_path: Path) -> None:
    """Two worker processes on one file hold different jobs at the same time, and between them
    run every job exactly once."""
    db = tmp_path / "jobs.db"
    store = SQLiteStore(db)
    try:
        with worker_processes(db) as workers:
            first, second = workers.start(), workers.start()
            holds = proletarian.enqueue_many(
                store, [NewJob(job_type="t", payload={"action": "hold"}) for _ in range(2)]
            )
            rest = proletarian.enqueue_many(
                store, [NewJob(job_type="t", payload={"action": "ok"}) for _ in range(100)]
            )
            # Each worker has one thread, blocked in its "hold" job until told to go on.
            held = dict([workers.expect("holding"), workers.expect("holding")])
            assert set(held) == {first, second}
            assert {held[first][1], held[second][1]} == set(holds)
            workers.send(first, "go")
            workers.send(second, "go")
            ran: dict[str, list[int]] = {}
            for _ in holds + rest:
                index, words = workers.expect("job_succeeded")
                ran.setdefault(words[1], []).append(index)
            assert workers.stop(first) == 0
            assert workers.stop(second) == 0
        assert sorted(ran) == sorted(holds + rest)
        assert all(len(runs) == 1 for runs in ran.values())
        for job_id in holds + rest:
            job = store.get_job(job_id)
            assert job is not None
            assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
    finally:
        store.close()
