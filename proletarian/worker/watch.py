"""The jobs a worker is running, and their deadlines.

Each running job has an event its handler sees as `ctx.stopping`: it is set when the worker
stops, and when the job's timeout passes. A handler still running a grace period after that is
cut: the job's outcome is taken out of its thread's hands (see `Run.take_end`) and recorded by
the worker from another thread, and the worker carries on without that thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from proletarian.ports.store import Claim


class Run:
    """One job running on a worker thread."""

    def __init__(
        self, claim: Claim, *, thread: int, worker_id: str, timeout: timedelta | None
    ) -> None:
        self.claim = claim
        self.thread = thread
        self.worker_id = worker_id
        self.stopping = threading.Event()
        self.timeout = timeout
        # Monotonic seconds, set by Watch.begin when the job has a timeout.
        self.deadline: float | None = None
        self.cut_at: float | None = None
        self._lock = threading.Lock()
        self._ended = False

    def take_end(self) -> bool:
        """True for the first caller only: that one records the job's outcome. The thread
        running the handler asks once the handler returned; the watch asks to cut it."""
        with self._lock:
            ended, self._ended = self._ended, True
        return not ended


class Watch:
    """Keeps the running jobs of one worker. A thread of its own runs only while some running
    job has a deadline. Thread-safe."""

    def __init__(self, cut: Callable[[Run], None]) -> None:
        self._cut = cut
        self._cond = threading.Condition()
        self._runs: set[Run] = set()
        self._thread: threading.Thread | None = None

    def begin(self, run: Run, grace: timedelta) -> None:
        """Watch `run` from now on: its deadline is its timeout from now, and it is cut a
        `grace` later."""
        if run.timeout is not None:
            run.deadline = time.monotonic() + run.timeout.total_seconds()
            run.cut_at = run.deadline + grace.total_seconds()
        with self._cond:
            self._runs.add(run)
            if run.deadline is not None and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(
                    target=self._watch, name="proletarian-watch", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def end(self, run: Run) -> None:
        with self._cond:
            self._runs.discard(run)

    def running_job_ids(self) -> list[str]:
        """The ids of the jobs running now (for the worker registry's heartbeat)."""
        with self._cond:
            return sorted(run.claim.job.id for run in self._runs)

    def stop_all(self) -> None:
        """Tell every running handler to stop (the worker is stopping)."""
        with self._cond:
            runs = list(self._runs)
        for run in runs:
            run.stopping.set()

    def _watch(self) -> None:
        while True:
            with self._cond:
                timed = [run for run in self._runs if run.deadline is not None]
                if not timed:
                    self._thread = None
                    return
                now = time.monotonic()
                due = [run for run in timed if run.cut_at is not None and run.cut_at <= now]
                for run in due:
                    self._runs.discard(run)
                for run in timed:
                    if run.deadline is not None and run.deadline <= now:
                        run.stopping.set()
                upcoming = [
                    moment
                    for run in timed
                    if run not in due
                    for moment in (run.deadline, run.cut_at)
                    if moment is not None and moment > now
                ]
                if not due:
                    self._cond.wait(min(upcoming) - now if upcoming else None)
            for run in due:
                threading.Thread(
                    target=self._cut, args=(run,), name="proletarian-cut", daemon=True
                ).start()
