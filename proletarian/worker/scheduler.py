"""The scheduler: enqueues the due ticks of schedules, each once however many schedulers run.

Each tick's job is enqueued under the tick's unique key (Schedule.key), so the store lets only
the first scheduler to reach a tick create its job; the others get the existing job back. No
scheduler is elected: every worker given the same schedules may run them, and one that is down
is simply not needed. At start a scheduler reads each schedule's latest tick key from the store
and applies the schedule's catch_up policy to the ticks missed since; a schedule never enqueued
before starts with the first tick after the scheduler first sees it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from proletarian.core.errors import ConfigurationError, ProletarianError, StoreError
from proletarian.core.job import NewJob
from proletarian.core.schedule import Schedule
from proletarian.ports.clock import Clock
from proletarian.ports.events import EventLog
from proletarian.ports.store import QueueStore

# The longest a waiting scheduler sleeps before it reads the clock again: a clock moved by an
# operator (or a test) is noticed within this.
MAX_WAIT = timedelta(seconds=30)
# After the store failed, the wait before the next pass.
RETRY_WAIT = timedelta(seconds=5)


class Scheduler:
    """Enqueues the jobs of `schedules` into `store` at their ticks.

    `QueueWorker(schedules=...)` runs one beside its threads; run one alone (a schedule-only
    process) with `start()` and `stop()`, or call `run_pending()` from a loop of your own.

    Args:
        store: Where the jobs go; it must support unique keys (every bundled store does).
        schedules: The schedules, each with a distinct name.
        log: Where events go (`scheduler_started`, `schedule_tick_enqueued`,
            `schedule_tick_taken`, `scheduler_error`).
        clock: Where "now" comes from; default the store's clock.
        max_wait: The longest sleep between two looks at the clock.
    """

    def __init__(
        self,
        store: QueueStore,
        schedules: Sequence[Schedule],
        *,
        log: EventLog,
        clock: Clock | None = None,
        max_wait: timedelta = MAX_WAIT,
    ) -> None:
        seen: set[str] = set()
        for schedule in schedules:
            if not isinstance(schedule, Schedule):
                raise ConfigurationError(
                    f"schedules must be proletarian.Schedule values, got {schedule!r}"
                )
            if schedule.name in seen:
                raise ConfigurationError(
                    f"two schedules are named {schedule.name!r}: give each a distinct name="
                )
            seen.add(schedule.name)
        if not isinstance(max_wait, timedelta) or max_wait <= timedelta(0):
            raise ConfigurationError(f"max_wait must be a positive timedelta, got {max_wait!r}")
        self._store = store
        self._schedules = list(schedules)
        self._log = log
        self._clock = clock or store.clock
        self._max_wait = max_wait
        self._last: dict[str, datetime] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def schedules(self) -> list[Schedule]:
        return list(self._schedules)

    def run_pending(self) -> list[str]:
        """Enqueue every tick due now that no scheduler has; return the ids of the jobs this
        call created. Store errors propagate; a tick whose enqueue failed is due again."""
        created: list[str] = []
        now = self._clock.now()
        for schedule in self._schedules:
            last = self._last.get(schedule.name)
            if last is None:
                # A latest tick in the future was enqueued by a scheduler whose clock is ahead:
                # the ticks until it are this one's to enqueue too (the keys keep them single).
                latest = self.latest_tick(schedule)
                last = now if latest is None else min(latest, now)
                self._last[schedule.name] = last
            for tick in schedule.due(last, now):
                job_id = self._store.enqueue(self._job(schedule, tick))
                fields = {
                    "schedule": schedule.name,
                    "tick": tick.isoformat(),
                    "job_id": str(job_id),
                    "job_type": schedule.job_type,
                    "queue": schedule.queue,
                }
                if job_id.created:
                    created.append(job_id)
                    self._log("schedule_tick_enqueued", fields)
                else:
                    self._log("schedule_tick_taken", fields)
                self._last[schedule.name] = tick
            # Ticks catch_up passed over are gone too: the next one due is after them.
            newest = next(schedule.ticks_until(now))
            if newest > self._last[schedule.name]:
                self._last[schedule.name] = newest
        return created

    def latest_tick(self, schedule: Schedule) -> datetime | None:
        """The latest tick of `schedule` that the store holds a key of, if any."""
        key = self._store.latest_unique_key(schedule.key_prefix)
        return None if key is None else schedule.tick_of(key)

    def next_tick(self) -> datetime | None:
        """The earliest tick after the last one each schedule enqueued; None before the first
        pass."""
        ticks = [
            next(schedule.ticks_after(self._last[schedule.name]))
            for schedule in self._schedules
            if schedule.name in self._last
        ]
        return min(ticks, default=None)

    def start(self) -> None:
        """Run passes in a daemon thread until `stop()`. A stopped scheduler can be started
        again."""
        if self._thread is not None and self._thread.is_alive():
            raise ProletarianError("this scheduler is already running")
        # A fresh event per run, as the thread of the last run may still be finishing a pass.
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stopping,), name="proletarian-scheduler", daemon=True
        )
        self._thread.start()
        self._log("scheduler_started", {"schedules": [s.name for s in self._schedules]})

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread after its current pass; wait at most `timeout` seconds for it."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                self.run_pending()
            except StoreError as exc:
                self._log("scheduler_error", {"error": str(exc), "error_type": type(exc).__name__})
                stopping.wait(RETRY_WAIT.total_seconds())
                continue
            stopping.wait(self._wait().total_seconds())

    def _wait(self) -> timedelta:
        following = self.next_tick()
        if following is None:
            return self._max_wait
        return max(timedelta(0), min(self._max_wait, following - self._clock.now()))

    def _job(self, schedule: Schedule, tick: datetime) -> NewJob:
        return NewJob(
            job_type=schedule.job_type,
            payload=schedule.payload,
            queue=schedule.queue,
            priority=schedule.priority,
            process_at=tick,
            meta={**schedule.meta, "schedule": schedule.name, "tick": tick.isoformat()},
            unique_key=schedule.key(tick),
            unique_for=schedule.held_for(tick),
        )
