"""`proletarian worker` as a real process on a SQLite file: it works the queue, stops gracefully
on SIGTERM or SIGINT, and exits at once on a second signal."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from proletarian import Job, JobContext, JobStatus, NewJob
from proletarian.adapters.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 30.0
HERE = "tests.integration.test_cli_worker"


def handler(job_type: str, payload: Any) -> None:
    """The workers' handler: succeeds unless the payload asks it to fail."""
    if payload.get("fail"):
        raise RuntimeError("asked to fail")


def patient(job: Job, ctx: JobContext) -> None:
    """A long job that returns as soon as the worker is stopping."""
    ctx.stopping.wait()


def stubborn(job: Job, ctx: JobContext) -> None:
    """A long job that ignores the stop request."""
    threading.Event().wait()


class Worker:
    """A `python -m proletarian worker` subprocess whose stderr lines are collected."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "proletarian", "worker", *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for_line(self, fragment: str) -> str:
        """The first stderr line containing `fragment`, waiting up to DEADLINE seconds."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            self.stderr.append(line)
            if fragment in line:
                return line
        raise AssertionError(f"no stderr line with {fragment!r}; got {self.stderr}")

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def exit_code(self) -> int:
        return self.process.wait(timeout=DEADLINE)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(DEADLINE)
        assert self.process.stderr is not None
        self.process.stderr.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, SQLiteStore]]:
    path = tmp_path / "jobs.db"
    store = SQLiteStore(str(path))
    try:
        yield f"sqlite:///{path}", store
    finally:
        store.close()


@pytest.fixture
def spawn() -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(*args: str) -> Worker:
        worker = Worker(*args)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.close()


def until(condition: Callable[[], bool]) -> None:
    """Poll the store for an end state, failing after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "the store did not reach the expected state"
        time.sleep(0.05)


def statuses(store: SQLiteStore, ids: Sequence[str]) -> list[JobStatus]:
    jobs = [store.get_job(job_id) for job_id in ids]
    return [job.status for job in jobs if job is not None]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_worker_works_the_queue_and_stops_cleanly(
    db: tuple[str, SQLiteStore], spawn: Callable[..., Worker], signum: signal.Signals
) -> None:
    """The worker runs every job on its queues, then a stop signal ends it with exit status 0."""
    url, store = db
    ids = store.enqueue_many(
        [NewJob(job_type="t", payload={"n": n}, queue=("a" if n % 2 else "b")) for n in range(40)]
    )
    failing = store.enqueue(NewJob(job_type="t", payload={"fail": True}, queue="a"))
    worker = spawn(
        f"{HERE}:handler", "--url", url, "--queue", "a", "--queue", "b", "--threads", "2",
        "--polling-interval", "0.1",
    )  # fmt: skip
    until(lambda: statuses(store, [*ids, failing]).count(JobStatus.READY) == 0)
    until(lambda: store.get_job(failing).status is JobStatus.FAILED)  # type: ignore[union-attr]
    until(lambda: statuses(store, ids) == [JobStatus.SUCCEEDED] * len(ids))
    worker.wait_for_line("event=worker_started")
    worker.send(signum)
    assert worker.exit_code() == 0
    worker.wait_for_line("event=worker_stopped")
    assert statuses(store, ids) == [JobStatus.SUCCEEDED] * len(ids)


def test_json_log_lines(db: tuple[str, SQLiteStore], spawn: Callable[..., Worker]) -> None:
    """With --log-format json every stderr line is one JSON object: worker_started names the
    store (its URL) and its queues as an array, a failed job carries its traceback, and the
    stop request and worker_stopped follow."""
    url, store = db
    failing = store.enqueue(NewJob(job_type="t", payload={"fail": True}))
    worker = spawn(f"{HERE}:handler", "--url", url, "--log-format", "json", "--queue", "default")
    until(lambda: store.get_job(failing).status is JobStatus.FAILED)  # type: ignore[union-attr]
    worker.send(signal.SIGTERM)
    assert worker.exit_code() == 0
    worker.wait_for_line('"event": "worker_stopped"')
    records = [json.loads(line) for line in worker.stderr]
    assert [record.get("event", record.get("msg")) for record in records] == [
        "worker_started",
        "job_failed",
        "SIGTERM: finishing running jobs (up to 10s); send it again to exit at once",
        "worker_stopping",
        "worker_stopped",
    ]
    started, failed = records[0], records[1]
    assert (started["url"], started["queues"], started["level"]) == (url, ["default"], "info")
    assert (failed["level"], failed["job_id"], failed["error"]) == (
        "error",
        failing,
        "asked to fail",
    )
    assert failed["traceback"].endswith("RuntimeError: asked to fail")


def test_a_stop_signal_lets_the_running_job_finish(
    db: tuple[str, SQLiteStore], spawn: Callable[..., Worker]
) -> None:
    """On SIGTERM a running job sees ctx.stopping, returns, and is archived as succeeded."""
    url, store = db
    job_id = store.enqueue(NewJob(job_type="long", payload={}))
    worker = spawn(f"{HERE}:patient", "--url", url, "--handler-mode", "advanced")
    until(lambda: store.get_job(job_id).status is JobStatus.RUNNING)  # type: ignore[union-attr]
    worker.send(signal.SIGTERM)
    assert worker.exit_code() == 0
    assert store.get_job(job_id).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]


def test_a_second_signal_exits_at_once(
    db: tuple[str, SQLiteStore], spawn: Callable[..., Worker]
) -> None:
    """A second SIGTERM while a job still runs exits with 143 and leaves the job queued."""
    url, store = db
    job_id = store.enqueue(NewJob(job_type="long", payload={}))
    worker = spawn(
        f"{HERE}:stubborn", "--url", url, "--handler-mode", "advanced",
        "--shutdown-timeout", "600",
    )  # fmt: skip
    until(lambda: store.get_job(job_id).status is JobStatus.RUNNING)  # type: ignore[union-attr]
    worker.send(signal.SIGTERM)
    worker.wait_for_line("send it again to exit at once")
    worker.send(signal.SIGTERM)
    assert worker.exit_code() == 128 + signal.SIGTERM
    worker.wait_for_line("SIGTERM again: exiting at once")
    job = store.get_job(job_id)
    assert job is not None
    assert job.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED)


def test_jobs_outlasting_the_shutdown_timeout_exit_1(
    db: tuple[str, SQLiteStore], spawn: Callable[..., Worker]
) -> None:
    """When running jobs outlast --shutdown-timeout the worker says so and exits with 1, and the
    job's lease was given back: it is due again at once, no abandonment counted."""
    url, store = db
    job_id = store.enqueue(NewJob(job_type="long", payload={}))
    worker = spawn(
        f"{HERE}:stubborn", "--url", url, "--handler-mode", "advanced",
        "--shutdown-timeout", "0.2",
    )  # fmt: skip
    until(lambda: store.get_job(job_id).status is JobStatus.RUNNING)  # type: ignore[union-attr]
    worker.send(signal.SIGINT)
    assert worker.exit_code() == 1
    line = worker.wait_for_line("still running after 0.2s")
    assert "they go back to their queue (leases given back now" in line
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.abandons) == (JobStatus.READY, 0)


def test_the_console_script_runs(tmp_path: Path) -> None:
    """The installed `proletarian` script creates the tables, enqueues and reports status like
    `python -m`."""
    script = Path(sys.executable).parent / "proletarian"
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    env = {**os.environ, "PROLETARIAN_URL": url}
    subprocess.run([script, "schema", "apply"], capture_output=True, env=env, check=True)
    enqueued = subprocess.run(
        [script, "enqueue", "t", '{"n": 1}'], capture_output=True, text=True, env=env, check=True
    )
    status = subprocess.run([script, "status"], capture_output=True, text=True, env=env, check=True)
    assert len(enqueued.stdout.strip()) == 36
    assert status.stdout.splitlines()[2].split()[:2] == ["default", "1"]
