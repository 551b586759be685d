"""The worker's entry in the store's worker registry: registered on start, a heartbeat every
interval, removed on stop, all from a thread of its own. For operators (`proletarian workers`):
claims never depend on it, so a registry that can't be written is reported and the worker goes
on (see docs/design-notes.md, "No worker registry for claims", for why).

Cost: one small write per interval per worker (an UPDATE of one row, or one hash field on
Redis), and every SWEEP_EVERY heartbeats one read of the registry, to remove dead workers.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from importlib import metadata

from proletarian.core.errors import ProletarianError
from proletarian.core.inspection import WorkerInfo
from proletarian.ports.events import EventLog
from proletarian.ports.store import QueueStore

DEFAULT_INTERVAL = timedelta(seconds=10)
# Dead workers are looked for on start and then every this many heartbeats: a dead worker's
# row is gone within about a minute of its death being seen, by any live worker.
SWEEP_EVERY = 6


class WorkerRegistration:
    """One run of a worker in the registry, kept by a thread of its own (see `start`). A store
    error at any step is logged as `worker_heartbeat_failed` (with `during`) and never raised:
    the next heartbeat tries again, registering anew if the entry is gone."""

    def __init__(
        self,
        store: QueueStore,
        log: EventLog,
        *,
        worker_id: str,
        queues: Sequence[str],
        threads: int,
        running: Callable[[], list[str]],
        interval: timedelta = DEFAULT_INTERVAL,
    ) -> None:
        self._store = store
        self._log = log
        self._worker_id = worker_id
        self._queues = tuple(queues)
        self._threads = threads
        self._running = running
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._beats = 0
        self._registered = False
        # Set once the first registration and sweep were tried (done, or their failure logged).
        self.started = threading.Event()

    def start(self) -> None:
        """Start the registry's thread: it registers the worker, removes dead peers, then
        heartbeats every interval until `stop`, and unregisters. Returns at once: an
        unreachable store never holds up the worker's start."""
        self._thread = threading.Thread(target=self._run, name="proletarian-registry", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """End the heartbeats and wait up to `timeout` seconds for the entry's removal. A store
        that can't be reached in that time leaves the entry, and peers remove it as dead."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def beat(self) -> None:
        """One heartbeat now: the thread calls it every interval (and tests, to not wait)."""
        now = self._store.clock.now()
        try:
            if not self._registered or not self._store.heartbeat_worker(
                self._worker_id, self._running(), now
            ):
                # Missing: removed as dead after a long pause, or never registered.
                self._register()
        except ProletarianError as exc:
            self._failed(exc, "heartbeat")
        self._beats += 1
        if self._beats % SWEEP_EVERY == 0:
            self._sweep()

    def _run(self) -> None:
        self._register()
        self._sweep()
        self.started.set()
        while not self._stopping.wait(self.interval.total_seconds()):
            self.beat()
        try:
            self._store.unregister_worker(self._worker_id)
        except ProletarianError as exc:
            self._failed(exc, "unregister")

    def _register(self) -> None:
        now = self._store.clock.now()
        info = WorkerInfo(
            id=self._worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=self._queues,
            threads=self._threads,
            version=_version(),
            started_at=now,
            last_seen=now,
            heartbeat_interval=self.interval,
            running=tuple(self._running()),
        )
        try:
            self._store.register_worker(info)
        except ProletarianError as exc:
            self._registered = False
            self._failed(exc, "register")
            return
        self._registered = True
        self._log(
            "worker_registered",
            {"worker_id": self._worker_id, "heartbeat_interval": self.interval.total_seconds()},
        )

    def _sweep(self) -> None:
        try:
            removed = self._store.remove_dead_workers(self._store.clock.now())
        except ProletarianError as exc:
            self._failed(exc, "remove_dead_workers")
            return
        if removed:
            self._log("dead_workers_removed", {"worker_id": self._worker_id, "count": removed})

    def _failed(self, exc: ProletarianError, during: str) -> None:
        self._log(
            "worker_heartbeat_failed",
            {"worker_id": self._worker_id, "error": str(exc), "during": during},
        )


def _version() -> str:
    try:
        return metadata.version("proletarian")
    except metadata.PackageNotFoundError:
        return "unknown"
