"""The queue worker: N threads that claim jobs from a store and run them."""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal, overload

from proletarian.core.errors import ClaimLost, ProletarianError, StoreError
from proletarian.core.policy import RetryPolicy
from proletarian.core.schedule import Schedule
from proletarian.ports.clock import Clock
from proletarian.ports.events import EventLog
from proletarian.ports.store import BatchClaimer, Claim, Notifier, QueueStore
from proletarian.worker.context import (
    AdvancedHandler,
    DefaultHandler,
    HandlerMode,
    JobContext,
    Middleware,
    OnFailed,
    RetryFunction,
)
from proletarian.worker.dispatch import job_call
from proletarian.worker.handlers import Handlers
from proletarian.worker.heartbeat import Heartbeat
from proletarian.worker.log import guarded, logging_events
from proletarian.worker.options import WorkerOptions
from proletarian.worker.registry import WorkerRegistration
from proletarian.worker.runner import Runner, give_back
from proletarian.worker.scheduler import Scheduler
from proletarian.worker.watch import Run, Watch

# The thread index of process_next_job() and drain(), which run on the caller's thread.
CALLER = -1
MAX_STORE_BACKOFF = 30.0
MIN_STORE_BACKOFF = 0.05
REGISTRY_STOP_SECONDS = 2.0


class QueueWorker:
    """Claims and runs jobs of one or more queues on `threads` threads.

    While jobs are due, threads claim one after another with no wait. A thread that finds nothing
    goes idle; one idle thread polls every `polling_interval`, the others sleep until woken (a
    claim by a peer, or a notification from the store), so an idle worker costs one claim query
    per interval however many threads it has. Store errors are reported through `log` and
    retried with capped backoff; no thread dies silently.

    The arguments are checked here: ConfigurationError names the first bad one. Type checkers
    check that `handler` has the shape `handler_mode` calls for.

    Args:
        store: Where the jobs are. Producers and workers must use stores of the same kind,
            tables (or prefix) and serializer.
        handler: Runs each job. In default mode a callable `(job_type, payload)`; in advanced
            mode `(job, ctx)` (a `Job` and its `JobContext`); a `Handlers` registry in either
            mode. Returning ends the attempt as a success; raising an `Exception` fails it (the
            retry policy decides what next). A plain function: an async one is refused.
        queue: The queue, or queues, to take jobs from. With several, the most urgent due
            job of any of them is claimed first.
        threads: How many jobs run at once, each on its own thread (at least 1). On
            PostgreSQL and MySQL a transactional claim holds a pool connection per running job.
        polling_interval: How often an idle worker looks for due jobs when no notification
            wakes it (jobs that become due by time, stores without notifications).
        shutdown_timeout: How long `stop()` waits for running jobs, unless it is given a
            timeout.
        retry: What to do after a failed attempt: a `RetryPolicy` for every job, or a
            function `(job, exc) -> RetryPolicy | None` asked after each failed attempt (None:
            no retry). A job type's policy in a `Handlers` registry comes first. Default: no
            retry.
        on_failed: Called `(job, exc)` on the worker thread after a job is archived as
            failed. What it raises is reported (`on_failed_error`) and never re-runs the job.
        handler_mode: "default" or "advanced": how `handler` is called.
        middleware: Callables `(job, ctx, call_next)` wrapped around the handler, the first
            outermost. An exception from one fails the attempt like the handler's.
        log: Receives every event `(name, data)` (see `EventLog`); it must be thread-safe, and
            what it raises is reported to `logging` and ignored. Default: the `logging` module,
            logger "proletarian".
        clock: The time source for retry times and deadlines. Default: the store's clock.
        jitter: Draws the number in [0, 1) that spreads a retry delay by its policy's jitter.
            Default: `random.random`; tests pass a constant.
        worker_id: Names this worker in claims and events; its threads add `:<index>`.
            Default: `<host>:<pid>:<random hex>`.
        batch_size: Above 1, batch mode, for stores that claim batches (`BatchClaimer`):
            each thread claims up to that many due jobs at once and runs them one after
            another. On PostgreSQL the batch is one transaction: each handler that uses
            `ctx.connection` has a savepoint of its own, the outcomes are committed together
            after the batch's last job, and a crash or a lost connection mid-batch runs every
            job of the batch again. The default, 1, is one claim (one transaction) per job.
        max_abandons: A job whose attempts ended without an outcome this many times (its
            worker died or lost the store while running it: a job that kills its worker does
            this) is archived as failed with `JobAbandoned` instead of run again. Apart from
            the retry policy; at least 1.
        timeout: How long a handler may run. Then its `ctx.stopping` is set; a handler still
            running `timeout_grace` later is cut, and its attempt fails with `JobTimeout`.
            `Handlers.register(timeout=)` sets one per job type. None: no limit. Needs
            `batch_size=1`.
        timeout_grace: How long a handler past its timeout has to return before it is cut.
        schedules: Recurring jobs (`Schedule`) this worker enqueues at their ticks, in a
            thread of its own while it runs. Every worker may be given the same schedules:
            each tick is enqueued once in all (see `Scheduler`).

    Attributes:
        worker_id (str): This worker's id (see `worker_id` above).
        queues (tuple[str, ...]): The queues it takes jobs from, in order.
        threads (int): Its number of threads.
    """

    # One lock (_lock) guards the worker's state; decisions are taken under it, I/O outside it.

    # This run's entry in the store's worker registry (worker/registry.py), from start().
    _registration: WorkerRegistration | None = None

    # The handler's shape follows handler_mode. The two overloads and the implementation take
    # the same keyword options, those of WorkerOptions plus the ports (a unit test checks it).
    @overload
    def __init__(
        self,
        store: QueueStore,
        handler: DefaultHandler,
        *,
        queue: str | Sequence[str] = "default",
        threads: int = 1,
        polling_interval: timedelta = timedelta(seconds=1),
        shutdown_timeout: timedelta = timedelta(seconds=10),
        retry: RetryPolicy | RetryFunction | None = None,
        on_failed: OnFailed | None = None,
        handler_mode: Literal["default"] = "default",
        middleware: Sequence[Middleware] = (),
        log: EventLog | None = None,
        clock: Clock | None = None,
        jitter: Callable[[], float] | None = None,
        worker_id: str | None = None,
        batch_size: int = 1,
        max_abandons: int = 3,
        timeout: timedelta | None = None,
        timeout_grace: timedelta = timedelta(seconds=30),
        schedules: Sequence[Schedule] = (),
    ) -> None: ...

    @overload
    def __init__(
        self,
        store: QueueStore,
        handler: AdvancedHandler | Handlers,
        *,
        queue: str | Sequence[str] = "default",
        threads: int = 1,
        polling_interval: timedelta = timedelta(seconds=1),
        shutdown_timeout: timedelta = timedelta(seconds=10),
        retry: RetryPolicy | RetryFunction | None = None,
        on_failed: OnFailed | None = None,
        handler_mode: Literal["advanced"],
        middleware: Sequence[Middleware] = (),
        log: EventLog | None = None,
        clock: Clock | None = None,
        jitter: Callable[[], float] | None = None,
        worker_id: str | None = None,
        batch_size: int = 1,
        max_abandons: int = 3,
        timeout: timedelta | None = None,
        timeout_grace: timedelta = timedelta(seconds=30),
        schedules: Sequence[Schedule] = (),
    ) -> None: ...

    def __init__(
        self,
        store: QueueStore,
        handler: DefaultHandler | AdvancedHandler | Handlers,
        *,
        queue: str | Sequence[str] = "default",
        threads: int = 1,
        polling_interval: timedelta = timedelta(seconds=1),
        shutdown_timeout: timedelta = timedelta(seconds=10),
        retry: RetryPolicy | RetryFunction | None = None,
        on_failed: OnFailed | None = None,
        handler_mode: HandlerMode = "default",
        middleware: Sequence[Middleware] = (),
        log: EventLog | None = None,
        clock: Clock | None = None,
        jitter: Callable[[], float] | None = None,
        worker_id: str | None = None,
        batch_size: int = 1,
        max_abandons: int = 3,
        timeout: timedelta | None = None,
        timeout_grace: timedelta = timedelta(seconds=30),
        schedules: Sequence[Schedule] = (),
    ) -> None:
        self._options = WorkerOptions(
            queues=queue,
            threads=threads,
            polling_interval=polling_interval,
            shutdown_timeout=shutdown_timeout,
            timeout_grace=timeout_grace,
            timeout=timeout,
            batch_size=batch_size,
            max_abandons=max_abandons,
            retry=retry,
            on_failed=on_failed,
            middleware=middleware,
            worker_id=worker_id,
            schedules=schedules,
        )
        registry = handler if isinstance(handler, Handlers) else None
        call = job_call(handler, handler_mode, self._options.middleware)
        self._options.check_fit(
            store, timeouts_per_type=registry is not None and registry.has_timeouts
        )
        self.store = store
        self._batcher = store if batch_size > 1 and isinstance(store, BatchClaimer) else None
        self._log: EventLog = guarded(log) if log is not None else logging_events
        self._runner = Runner(
            call=call,
            registry=registry,
            options=self._options,
            clock=clock or store.clock,
            log=self._log,
            jitter=jitter or random.random,
            interrupt=self._stop_claiming,
        )
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)  # idle threads wait here
        self._changed = threading.Condition(self._lock)  # wait_idle() waits here
        self._generation = 0  # bumped by every hint that work may be due
        self._poller = False  # whether an idle thread is already polling
        self._idle = 0
        self._waking = 0  # idle threads woken that have not yet run
        self._busy = 0
        self._stopping = threading.Event()
        self._threads: dict[int, threading.Thread] = {}  # by index, as in the worker id
        self._indexes = itertools.count()
        self._retired: set[int] = set()  # threads given up while their handler hung
        self._heartbeat = Heartbeat(self._stopping, self._log)
        self._watch = Watch(self._cut)
        self._interrupted: BaseException | None = None
        self._scheduler = (
            Scheduler(store, self._options.schedules, log=self._log, clock=clock)
            if self._options.schedules
            else None
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the threads and return at once. A stopped worker can be started again."""
        with self._lock:
            if any(t.is_alive() for t in self._threads.values()):
                if not self._stopping.is_set():
                    raise ProletarianError("worker is already running")
                raise ProletarianError("worker is still stopping: jobs of the last run are running")
            # A fresh event per run: a listener of the last run, still finishing its wait,
            # sees its own run's event set and exits, so stop() need not wait for it.
            self._stopping = threading.Event()
            self._heartbeat = Heartbeat(self._stopping, self._log)
            self._interrupted = None
            self._threads = {}
            threads = [self._new_thread() for _ in range(self.threads)]
            if isinstance(self.store, Notifier):
                threads.append(
                    threading.Thread(
                        target=self._listen,
                        args=(self.store, self._stopping),
                        name="proletarian-listener",
                        daemon=True,
                    )
                )
        self._log("worker_started", self._summary())
        self._registration = WorkerRegistration(
            self.store,
            self._log,
            worker_id=self.worker_id,
            queues=self.queues,
            threads=self.threads,
            running=self._watch.running_job_ids,
        )
        self._registration.start()
        for thread in threads:
            thread.start()
        if self._scheduler is not None:
            self._scheduler.start()

    def stop(self, timeout: timedelta | None = None) -> bool:
        """Stop claiming, set every running handler's `ctx.stopping`, and wait up to `timeout`
        (default `shutdown_timeout`) for running jobs. Returns False if some are still running
        then: they are reported, leased claims among them are given back at once (uncounted),
        and transactional ones roll back when the process exits (counted as abandoned where the
        store sees that, see Job.abandons)."""
        self._log("worker_stopping", self._summary())
        if self._scheduler is not None:
            self._scheduler.stop()
        with self._lock:
            self._stopping.set()
            self._wakeup.notify_all()
            threads = list(self._threads.values())
        self._watch.stop_all()
        self._heartbeat.wake()
        deadline = time.monotonic() + (timeout or self._options.shutdown_timeout).total_seconds()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._registration is not None:
            # At least a moment, even past the deadline: the caller closes the store next, and
            # a store closed under the registry's write can crash the process (SQLite).
            self._registration.stop(max(REGISTRY_STOP_SECONDS, deadline - time.monotonic()))
        stragglers = [t.name for t in threads if t.is_alive()]
        if stragglers:
            self._log("shutdown_stragglers", {**self._summary(), "threads": stragglers})
            self._release_stragglers()
            return False
        self._log("worker_stopped", self._summary())
        return True

    def _release_stragglers(self) -> None:
        """Give back the leases of jobs still running after the shutdown timeout, so they are
        free at once for other workers, uncounted, rather than held until their lease runs out
        and then counted as abandoned. Their handlers' outcomes, if they ever finish, find the
        claim lost. (A transactional claim can't be ended from this thread: its transaction
        rolls back when the process exits.)"""
        released = self._heartbeat.give_up()
        for claim in released:
            # interrupt first: the handler's thread may still use the claim's connection.
            with contextlib.suppress(StoreError):
                claim.interrupt()
            give_back([claim])
        if released:
            job_ids = [claim.job.id for claim in released]
            self._log("shutdown_released", {**self._summary(), "job_ids": job_ids})

    def __enter__(self) -> QueueWorker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def worker_id(self) -> str:
        return self._options.worker_id

    @property
    def queues(self) -> tuple[str, ...]:
        return self._options.queues

    @property
    def threads(self) -> int:
        return self._options.threads

    @property
    def stopping(self) -> bool:
        """True from `stop()`, or from a handler's KeyboardInterrupt or SystemExit, until the
        next `start()`."""
        return self._stopping.is_set()

    @property
    def interrupted(self) -> BaseException | None:
        """The BaseException (KeyboardInterrupt, SystemExit) that stopped a thread, if any."""
        return self._interrupted

    # -- one job at a time, on the caller's thread ---------------------------------------------

    def process_next_job(self) -> bool:
        """Claim one due job and run it to its outcome on this thread (strict mode, whatever
        `batch_size` is). True if a job ran. Store errors propagate."""
        return self._process_one(self.worker_id, CALLER)

    def drain(self) -> int:
        """Run jobs on this thread (in batches, in batch mode) until none is due; returns how
        many ran."""
        count = 0
        while ran := self._process(self.worker_id, CALLER):
            count += ran
        return count

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every thread is idle with nothing due, as of the last claim each made.
        True if that happened before `timeout` seconds."""
        with self._lock:
            return self._changed.wait_for(
                lambda: self._idle == self.threads and self._busy == 0 and not self._waking,
                timeout,
            )

    def _process(self, worker_id: str, thread: int) -> int:
        """Claim and run one job, or one batch in batch mode; how many jobs ran. On a worker
        thread, claims that come back once the worker is stopping are given back unrun: a stop
        (or an interrupt of a sibling thread) may begin while a claim is on its way."""
        if self._batcher is None:
            return 1 if self._process_one(worker_id, thread) else 0
        return self._process_batch(self._batcher, worker_id, thread)

    def _process_one(self, worker_id: str, thread: int) -> bool:
        claim = self.store.claim(self.queues, worker_id=worker_id)
        if claim is None:
            return False
        if thread != CALLER:
            if self._stopping.is_set():
                give_back([claim])
                return False
            self._keep_polling()
        self._heartbeat.hold(claim)
        try:
            self._run(claim, worker_id, thread, self._runner.timeout_for(claim.job))
        finally:
            self._heartbeat.release(claim)
        return True

    def _run(self, claim: Claim, worker_id: str, thread: int, timeout: timedelta | None) -> None:
        """Run one claim, watched: its handler's `ctx.stopping` is set when the worker stops or
        the job's timeout passes, and a handler still running past the grace is cut."""
        run = Run(claim, thread=thread, worker_id=worker_id, timeout=timeout)
        deadline = None if timeout is None else self._runner.clock.now() + timeout
        ctx = JobContext(claim=claim, stopping=run.stopping, worker_id=worker_id, deadline=deadline)
        if thread != CALLER and self._stopping.is_set():
            run.stopping.set()
        self._watch.begin(run, self._options.timeout_grace)
        try:
            self._runner.run(claim, ctx, run.take_end)
        finally:
            self._watch.end(run)

    def _process_batch(self, store: BatchClaimer, worker_id: str, thread: int) -> int:
        claims = store.claim_batch(self.queues, worker_id=worker_id, limit=self._options.batch_size)
        if claims and thread != CALLER:
            if self._stopping.is_set():
                give_back(claims)
                return 0
            self._keep_polling()
        for claim in claims:
            self._heartbeat.hold(claim)
        ran = 0
        try:
            for claim in claims:
                self._run(claim, worker_id, thread, None)
                ran += 1
        except BaseException:
            # Give back what this batch did not finish: the claim that raised (if it is
            # still held) and those never reached. On a store that holds the batch in one
            # transaction the first abandon rolls it all back and the others do nothing.
            give_back(claims[ran:])
            raise
        finally:
            for claim in claims:
                self._heartbeat.release(claim)
        return ran

    # -- threads --------------------------------------------------------------------------------

    def _new_thread(self) -> threading.Thread:
        """A worker thread with the next index, registered; the caller starts it. Called with
        the lock held."""
        index = next(self._indexes)
        thread = threading.Thread(
            target=self._work, args=(index,), name=f"proletarian-worker-{index}", daemon=True
        )
        self._threads[index] = thread
        return thread

    def _work(self, index: int) -> None:
        worker_id = f"{self.worker_id}:{index}"
        backoff = MIN_STORE_BACKOFF
        while not self._stopping.is_set():
            with self._lock:
                seen = self._generation
                self._busy += 1
            error: BaseException | None = None
            try:
                ran = self._process(worker_id, index)
            except ClaimLost as exc:
                self._log("claim_lost", {"worker_id": worker_id, "error": str(exc)})
                ran = 1
            except BaseException as exc:
                error, ran = exc, 0
            with self._lock:
                if index in self._retired:
                    # Given up while its handler hung, and replaced: this thread ends here.
                    self._retired.discard(index)
                    return
                self._busy -= 1
                if error is None and ran:
                    # Work was due: a peer might find more.
                    self._wake_one()
            if error is not None:
                if not isinstance(error, Exception):
                    self._interrupt(worker_id, error)
                    return
                # A bug in a sink or middleware must not kill the thread either.
                event = "store_unavailable" if isinstance(error, StoreError) else "worker_error"
                self._log(
                    event, {"worker_id": worker_id, "error": repr(error), "retry_in": backoff}
                )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_STORE_BACKOFF)
                continue
            if backoff > MIN_STORE_BACKOFF:
                self._log("store_recovered", {"worker_id": worker_id})
                backoff = MIN_STORE_BACKOFF
            if not ran:
                with self._lock:
                    if self._generation == seen:
                        self._idle_wait()

    def _cut(self, run: Run) -> None:
        """On a thread of its own: a handler ran past its timeout and grace. Unless it returned
        meanwhile, its worker thread is given up (another takes its place) and the attempt is
        recorded as failed with JobTimeout, retried by the policy."""
        if not run.take_end():
            return
        self._heartbeat.release(run.claim)
        replaced = self._give_up(run.thread)
        assert run.timeout is not None
        try:
            self._runner.cut(run.claim, run.worker_id, run.timeout)
        except ClaimLost as exc:
            self._log("claim_lost", {"worker_id": run.worker_id, "error": str(exc)})
        except Exception as exc:
            event = "store_unavailable" if isinstance(exc, StoreError) else "worker_error"
            self._log(event, {"worker_id": run.worker_id, "error": repr(exc), "during": "cut"})
            give_back([run.claim])
        finally:
            if replaced:
                # The given-up thread's job counted as busy until its outcome was written,
                # which may have made it due again.
                with self._lock:
                    self._busy -= 1
                    self._wake_one()
                    self._changed.notify_all()

    def _give_up(self, index: int) -> bool:
        """Forget a worker thread stuck in a cut handler and start another in its place (unless
        the worker is stopping), so the worker keeps its number of threads. False for the
        caller's own thread, which is not the worker's to give up."""
        if index == CALLER:
            return False
        with self._lock:
            stuck = self._threads.pop(index)
            self._retired.add(index)
            replacement = None if self._stopping.is_set() else self._new_thread()
        self._log(
            "worker_thread_replaced",
            {"worker_id": self.worker_id, "stuck": stuck.name, "replaced": replacement is not None},
        )
        if replacement is not None:
            replacement.start()
        return True

    def _stop_claiming(self) -> None:
        """A handler raised KeyboardInterrupt or SystemExit: no thread claims anything more."""
        with self._lock:
            self._stopping.set()
            self._wakeup.notify_all()

    def _interrupt(self, worker_id: str, exc: BaseException) -> None:
        """KeyboardInterrupt or SystemExit in a handler: the claim was given back; stop all."""
        self._interrupted = exc
        self._log("worker_interrupted", {"worker_id": worker_id, "error": repr(exc)})
        with self._lock:
            self._stopping.set()
            self._wakeup.notify_all()

    def _idle_wait(self) -> None:
        """Called with the lock held. The first idle thread polls; the others wait for a hint."""
        poller = not self._poller
        self._poller = self._poller or poller
        self._idle += 1
        self._changed.notify_all()
        try:
            if not self._stopping.is_set():
                interval = self._options.polling_interval.total_seconds()
                self._wakeup.wait(interval if poller else None)
        finally:
            self._idle -= 1
            self._waking = max(self._waking - 1, 0)
            if poller:
                self._poller = False

    def _listen(self, store: Notifier, stopping: threading.Event) -> None:
        backoff = MIN_STORE_BACKOFF
        # Bounded waits so a stopped run's listener exits soon; waiting costs no query.
        wait = min(self._options.polling_interval.total_seconds(), 1.0)
        while not stopping.is_set():
            try:
                listener = store.listen(self.queues)
            except StoreError as exc:
                self._log("listener_lost", {"error": str(exc), "retry_in": round(backoff, 3)})
                stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_STORE_BACKOFF)
                continue
            # Jobs may have arrived while nobody was listening.
            self._hint()
            backoff = MIN_STORE_BACKOFF
            try:
                while not stopping.is_set():
                    if listener.wait(wait):
                        self._hint()
            except StoreError as exc:
                self._log("listener_lost", {"error": str(exc), "retry_in": round(backoff, 3)})
            finally:
                listener.close()

    def _keep_polling(self) -> None:
        """A thread took a job: when no thread is polling then (the poller left its wait to
        take it) and another is idle, that one is woken to look for work, and polls when it
        finds none, so a job that falls due while this one runs is not left waiting. An idle
        worker polls no more for it: this happens only when a job was taken."""
        with self._lock:
            if not self._poller and self._idle > self._waking:
                self._wake_one()

    def _hint(self) -> None:
        with self._lock:
            self._wake_one()

    def _wake_one(self) -> None:
        """Called with the lock held: work may be due. An idle thread is woken to look for it,
        and counts as waking (not idle, for wait_idle) from now until it runs."""
        self._generation += 1
        if self._idle > self._waking:
            self._waking += 1
        self._wakeup.notify()

    # -- reporting ------------------------------------------------------------------------------

    def _summary(self) -> dict[str, Any]:
        return {"worker_id": self.worker_id, "queues": list(self.queues), "threads": self.threads}

    def __repr__(self) -> str:
        queue = self.queues[0] if len(self.queues) == 1 else list(self.queues)
        return (
            f"<QueueWorker queue={queue!r} threads={self.threads} busy={self._busy} "
            f"stopping={self._stopping.is_set()}>"
        )
