"""The queue worker over MemoryStore and NullStore, with a manual clock and no sleeps."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

import proletarian
from proletarian import (
    ConfigurationError,
    Handlers,
    Job,
    JobAbandoned,
    JobContext,
    JobStatus,
    NewJob,
    QueueWorker,
    RetryPolicy,
    SerializationError,
    StoreUnavailable,
)
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.memory import MemoryStore
from proletarian.adapters.null import NullStore
from proletarian.adapters.serializers import JsonSerializer
from proletarian.testing import CapturingLog, ManualClock
from proletarian.worker.context import CallNext


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> MemoryStore:
    return MemoryStore(clock=clock)


@pytest.fixture
def log() -> CapturingLog:
    return CapturingLog()


def status(store: MemoryStore, job_id: str) -> tuple[JobStatus, int]:
    job = store.get_job(job_id)
    assert job is not None
    return job.status, job.attempts


def test_process_next_job_runs_the_handler(store: MemoryStore) -> None:
    """process_next_job runs one job with (type, payload) and says whether one ran."""
    calls: list[tuple[str, Any]] = []
    worker = QueueWorker(store, lambda t, p: calls.append((t, p)))
    assert worker.process_next_job() is False
    job_id = proletarian.enqueue(store, "greet", {"name": "ada"})
    assert worker.process_next_job() is True
    assert calls == [("greet", {"name": "ada"})]
    assert status(store, job_id) == (JobStatus.SUCCEEDED, 1)


def test_advanced_mode_gets_job_and_context(store: MemoryStore) -> None:
    """An advanced handler sees the whole job (1-based attempt, meta) and its context."""
    seen: list[tuple[Job, JobContext]] = []
    worker = QueueWorker(store, lambda j, c: seen.append((j, c)), handler_mode="advanced")
    job_id = proletarian.enqueue(store, "t", [1], queue="default", meta={"request_id": "r1"})
    worker.drain()
    job, ctx = seen[0]
    assert (job.id, job.attempt, job.meta, job.payload) == (job_id, 1, {"request_id": "r1"}, [1])
    assert ctx.connection is None
    assert not ctx.stopping.is_set()
    assert ctx.worker_id == worker.worker_id


def test_retry_waits_exactly_the_policy_delay(store: MemoryStore, clock: ManualClock) -> None:
    """A failing job comes back after exactly its delay, and fails after its last attempt."""
    attempts: list[int] = []

    def handler(job: Job, ctx: JobContext) -> None:
        attempts.append(job.attempt)
        raise ValueError("nope")

    worker = QueueWorker(
        store, handler, handler_mode="advanced", retry=RetryPolicy(retries=2, delays=[10, 60])
    )
    job_id = proletarian.enqueue(store, "t", None)
    start = clock.now()
    assert worker.drain() == 1
    job = store.get_job(job_id)
    assert job is not None
    assert job.process_at == start + timedelta(seconds=10)
    clock.advance(9)
    assert worker.drain() == 0
    clock.advance(1)
    assert worker.drain() == 1
    clock.advance(59)
    assert worker.drain() == 0
    clock.advance(1)
    assert worker.drain() == 1
    assert attempts == [1, 2, 3]
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert (job.error.type, job.error.message) == ("ValueError", "nope")
    assert "raise ValueError" in job.error.traceback


def test_jitter_draw_is_injected(store: MemoryStore, clock: ManualClock) -> None:
    """With the jitter draw supplied, an exponential retry time is exact."""
    worker = QueueWorker(
        store,
        _fail,
        retry=RetryPolicy.exponential(retries=1, base=10, jitter=0.5),
        jitter=lambda: 1.0,
    )
    job_id = proletarian.enqueue(store, "t", None)
    worker.drain()
    job = store.get_job(job_id)
    assert job is not None
    assert job.process_at == clock.now() + timedelta(seconds=15)


def _fail(job_type: str, payload: Any) -> None:
    raise RuntimeError("always")


def test_on_failed_runs_after_the_failure_is_recorded(
    store: MemoryStore, log: CapturingLog
) -> None:
    """on_failed sees the job already archived as FAILED, with the exception."""
    seen: list[tuple[JobStatus, str]] = []

    def on_failed(job: Job, exc: BaseException) -> None:
        current = store.get_job(job.id)
        assert current is not None
        seen.append((current.status, str(exc)))

    worker = QueueWorker(store, _fail, on_failed=on_failed, log=log)
    proletarian.enqueue(store, "t", None)
    worker.drain()
    assert seen == [(JobStatus.FAILED, "always")]
    assert log.names()[-2:] == ["job_claimed", "job_failed"]


def test_on_failed_that_raises_is_logged_and_never_reruns(
    store: MemoryStore, log: CapturingLog
) -> None:
    """An exception from on_failed is reported; the job stays failed and the worker goes on."""

    def on_failed(job: Job, exc: BaseException) -> None:
        raise KeyError("callback bug")

    worker = QueueWorker(store, _fail, on_failed=on_failed, log=log)
    first = proletarian.enqueue(store, "t", None)
    second = proletarian.enqueue(store, "t", None)
    assert worker.drain() == 2
    assert status(store, first) == (JobStatus.FAILED, 1)
    assert status(store, second) == (JobStatus.FAILED, 1)
    assert len(log.of("on_failed_error")) == 2


@pytest.mark.parametrize(
    "retry",
    [lambda job, exc: 1 / 0, lambda job, exc: "three times"],
    ids=["raises", "nonsense"],
)
def test_bad_retry_function_means_no_retry(
    store: MemoryStore, log: CapturingLog, retry: Any
) -> None:
    """A retry function that raises or returns nonsense is reported and the job fails."""
    worker = QueueWorker(store, _fail, retry=retry, log=log)
    job_id = proletarian.enqueue(store, "t", None)
    worker.drain()
    assert status(store, job_id) == (JobStatus.FAILED, 1)
    assert len(log.of("retry_function_error")) == 1


def test_retry_function_chooses_per_exception(store: MemoryStore) -> None:
    """A retry function can retry some exceptions and not others."""

    def handler(job_type: str, payload: Any) -> None:
        raise (TimeoutError if payload == "slow" else ValueError)(payload)

    def retry(job: Job, exc: BaseException) -> RetryPolicy | None:
        return RetryPolicy(retries=3) if isinstance(exc, TimeoutError) else None

    worker = QueueWorker(store, handler, retry=retry)
    slow = proletarian.enqueue(store, "t", "slow")
    bad = proletarian.enqueue(store, "t", "bad")
    worker.drain()
    assert status(store, slow) == (JobStatus.FAILED, 4)
    assert status(store, bad) == (JobStatus.FAILED, 1)


class UndecodableSometimes(JsonSerializer):
    def loads(self, data: str) -> Any:
        if "poison" in data:
            raise SerializationError("bad bytes at offset 3")
        return super().loads(data)


def test_undecodable_payload_is_archived_failed_and_the_worker_goes_on(
    clock: ManualClock, log: CapturingLog
) -> None:
    """A poison job is archived as failed with the decode error; the next job still runs."""
    store = MemoryStore(clock=clock, serializer=UndecodableSometimes())
    failed: list[BaseException] = []
    ran: list[Any] = []
    worker = QueueWorker(
        store,
        lambda t, p: ran.append(p),
        log=log,
        retry=RetryPolicy(retries=5),
        on_failed=lambda job, exc: failed.append(exc),
    )
    poison = proletarian.enqueue(store, "t", "poison")
    fine = proletarian.enqueue(store, "t", "fine")
    assert worker.drain() == 2
    job = store.get_job(poison)
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert "bad bytes at offset 3" in job.error.message
    assert ran == ["fine"]
    assert status(store, fine) == (JobStatus.SUCCEEDED, 1)
    assert len(failed) == 1


def test_handlers_registry_dispatches_with_per_type_retry(store: MemoryStore) -> None:
    """Handlers routes by job type, applies its per-type policy, and fails unknown types."""
    handlers = Handlers()
    flaky_runs: list[int] = []

    @handlers.register("flaky", retry=RetryPolicy(retries=2))
    def flaky(payload: Any) -> None:
        flaky_runs.append(payload)
        raise OSError("try again")

    @handlers.register("ctx", with_context=True)
    def with_ctx(job: Job, ctx: JobContext) -> None:
        assert job.job_type == "ctx"

    worker = QueueWorker(store, handlers)
    a = proletarian.enqueue(store, "flaky", 7)
    b = proletarian.enqueue(store, "ctx", None)
    c = proletarian.enqueue(store, "nobody-handles-this", None)
    worker.drain()
    assert flaky_runs == [7, 7, 7]
    assert status(store, a) == (JobStatus.FAILED, 3)
    assert status(store, b) == (JobStatus.SUCCEEDED, 1)
    unknown = store.get_job(c)
    assert unknown is not None
    assert unknown.status is JobStatus.FAILED
    assert unknown.error is not None
    assert unknown.error.type == "UnknownJobType"
    assert "'nobody-handles-this'" in unknown.error.message


def test_handlers_refuse_duplicates_and_async() -> None:
    """Registering a type twice, or an async function, is a configuration error."""
    handlers = Handlers()
    handlers.register("t")(lambda payload: None)
    with pytest.raises(ConfigurationError, match="already registered"):
        handlers.register("t")(lambda payload: None)

    async def coro(payload: Any) -> None:
        return None

    with pytest.raises(ConfigurationError, match="async"):
        handlers.register("u")(coro)


def test_async_handler_is_refused_at_construction(store: MemoryStore) -> None:
    """An async def handler is refused by the threaded worker with a clear error."""

    async def handler(job_type: str, payload: Any) -> None:
        return None

    with pytest.raises(ConfigurationError, match="async function"):
        QueueWorker(store, handler)


def test_handler_returning_an_awaitable_fails_the_job(store: MemoryStore) -> None:
    """A handler that returns a coroutine did no work: the attempt fails and says why."""

    async def inner() -> None:
        return None

    worker = QueueWorker(store, lambda t, p: inner())
    job_id = proletarian.enqueue(store, "t", None)
    worker.drain()
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert "awaitable" in job.error.message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threads": 0}, "threads"),
        ({"queue": ""}, "queue"),
        ({"queue": []}, "at least one queue"),
        ({"polling_interval": timedelta(0)}, "polling_interval"),
        ({"shutdown_timeout": 10}, "shutdown_timeout must be a positive timedelta"),
        ({"max_abandons": 0}, "max_abandons must be an int >= 1"),
        ({"handler_mode": "fancy"}, "handler_mode"),
        ({"retry": 3}, "retry must be"),
    ],
)
def test_bad_worker_settings_are_refused(
    store: MemoryStore, kwargs: dict[str, Any], message: str
) -> None:
    """Worker settings are validated at construction."""
    with pytest.raises(ConfigurationError, match=message):
        QueueWorker(store, lambda t, p: None, **kwargs)


def test_keyboard_interrupt_gives_the_job_back(store: MemoryStore) -> None:
    """A BaseException in the handler abandons the claim (job unchanged) and propagates."""

    def handler(job_type: str, payload: Any) -> None:
        raise KeyboardInterrupt

    worker = QueueWorker(store, handler)
    job_id = proletarian.enqueue(store, "t", None)
    with pytest.raises(KeyboardInterrupt):
        worker.process_next_job()
    assert status(store, job_id) == (JobStatus.READY, 0)


def test_middleware_wraps_in_order_and_can_fail_the_attempt(store: MemoryStore) -> None:
    """Middleware runs outermost first and may raise to fail the attempt."""
    order: list[str] = []

    def outer(job: Job, ctx: JobContext, call_next: CallNext) -> None:
        order.append("outer>")
        call_next(job, ctx)
        order.append("<outer")

    def inner(job: Job, ctx: JobContext, call_next: CallNext) -> None:
        if job.payload == "deny":
            raise PermissionError("denied by middleware")
        order.append("inner>")
        call_next(job, ctx)

    worker = QueueWorker(store, lambda t, p: order.append("handler"), middleware=[outer, inner])
    proletarian.enqueue(store, "t", "ok")
    denied = proletarian.enqueue(store, "t", "deny")
    worker.drain()
    assert order == ["outer>", "inner>", "handler", "<outer", "outer>"]
    assert status(store, denied) == (JobStatus.FAILED, 1)


def test_events_name_each_transition(store: MemoryStore, log: CapturingLog) -> None:
    """Claim, retry, success and failure each emit their stable event with the job's data."""
    outcomes = iter([RuntimeError("once"), None])

    def handler(job_type: str, payload: Any) -> None:
        error = next(outcomes)
        if error is not None:
            raise error

    worker = QueueWorker(store, handler, retry=RetryPolicy(retries=1), log=log)
    job_id = proletarian.enqueue(store, "t", None, queue="default")
    worker.drain()
    assert log.names() == ["job_claimed", "job_retry_scheduled", "job_claimed", "job_succeeded"]
    retry = log.of("job_retry_scheduled")[0]
    assert (retry["job_id"], retry["attempt"], retry["error_type"]) == (job_id, 1, "RuntimeError")
    assert log.of("job_succeeded")[0]["attempt"] == 2


# -- threads ------------------------------------------------------------------------------------


def test_four_threads_run_ten_thousand_jobs_by_policy(log: CapturingLog) -> None:
    """4 threads over 10,000 jobs: each ends as its policy says, and failures call on_failed."""
    store = MemoryStore()
    jobs = [NewJob(job_type="t", payload={"i": i}) for i in range(10_000)]
    ids = proletarian.enqueue_many(store, jobs)
    runs: dict[int, int] = {}
    lock = threading.Lock()
    failed: list[str] = []

    def handler(job_type: str, payload: dict[str, int]) -> None:
        i = payload["i"]
        with lock:
            runs[i] = runs.get(i, 0) + 1
            n = runs[i]
        if i % 10 == 0 or (i % 10 == 1 and n < 3):
            raise RuntimeError(f"{i} attempt {n}")

    worker = QueueWorker(
        store,
        handler,
        threads=4,
        retry=RetryPolicy(retries=2),
        log=log,
        on_failed=lambda job, exc: failed.append(job.id),
    )
    with worker:
        assert worker.wait_idle(timeout=120)
    stats = store.stats()["default"]
    assert (stats.succeeded, stats.failed, stats.ready, stats.running) == (9000, 1000, 0, 0)
    assert sorted(failed) == sorted(ids[i] for i in range(0, 10_000, 10))
    assert runs[0] == 3
    assert runs[1] == 3
    assert runs[2] == 1
    assert sum(runs.values()) == 10_000 + 1000 * 2 + 1000 * 2


def test_idle_threads_cost_one_poll_not_one_each() -> None:
    """Once idle, a 4-thread worker has made one claim per thread and no more (one polls)."""
    store = NullStore()
    worker = QueueWorker(store, lambda t, p: None, threads=4, polling_interval=timedelta(hours=1))
    with worker:
        assert worker.wait_idle(timeout=10)
        assert len(store.calls_to("claim")) == 4
    assert "stopping=True" in repr(worker)


def test_notification_wakes_an_idle_worker_before_the_poll() -> None:
    """An enqueue wakes an idle worker at once, though its poll is an hour away."""
    store = MemoryStore()
    done = threading.Event()
    worker = QueueWorker(
        store, lambda t, p: done.set(), threads=2, polling_interval=timedelta(hours=1)
    )
    with worker:
        assert worker.wait_idle(timeout=10)
        proletarian.enqueue(store, "t", None)
        assert done.wait(timeout=10)


def test_an_idle_thread_polls_while_the_polling_one_runs_a_long_job(clock: ManualClock) -> None:
    """While one thread runs a long job, an idle thread keeps polling: a job that falls due
    later, with no notification, runs before the long job ends."""
    store = MemoryStore(clock=clock)
    started, release, later = threading.Event(), threading.Event(), threading.Event()

    def handler(job_type: str, payload: str) -> None:
        if payload == "long":
            started.set()
            release.wait(timeout=30)
        else:
            later.set()

    proletarian.enqueue(store, "t", "long", process_in=timedelta(seconds=1))
    proletarian.enqueue(store, "t", "later", process_in=timedelta(seconds=2))
    worker = QueueWorker(store, handler, threads=2, polling_interval=timedelta(milliseconds=20))
    try:
        with worker:
            assert worker.wait_idle(timeout=10)
            clock.advance(timedelta(seconds=1))  # within the lease; only the polling thread sees it
            assert started.wait(timeout=10)
            clock.advance(timedelta(seconds=1))
            ran = later.wait(timeout=5)
            release.set()
        assert ran
    finally:
        release.set()


def test_stop_sets_stopping_and_reports_stragglers(store: MemoryStore, log: CapturingLog) -> None:
    """stop() sets ctx.stopping; a job still running at the timeout is reported, and the worker
    can start again once it finished."""
    started, release = threading.Event(), threading.Event()
    saw_stopping = threading.Event()

    def handler(job: Job, ctx: JobContext) -> None:
        started.set()
        release.wait(timeout=30)
        if ctx.stopping.is_set():
            saw_stopping.set()

    worker = QueueWorker(store, handler, handler_mode="advanced", log=log)
    proletarian.enqueue(store, "t", None)
    worker.start()
    assert started.wait(timeout=10)
    assert worker.stop(timeout=timedelta(milliseconds=50)) is False
    assert log.of("shutdown_stragglers")
    release.set()
    assert worker.stop() is True
    assert saw_stopping.is_set()
    worker.start()
    assert worker.wait_idle(timeout=10)
    worker.stop()


def test_start_twice_is_refused(store: MemoryStore) -> None:
    """A running worker can't be started again."""
    worker = QueueWorker(store, lambda t, p: None)
    with worker, pytest.raises(proletarian.ProletarianError, match="already running"):
        worker.start()


class FlakyStore(MemoryStore):
    """Fails the first `failures` claims as if the server were down."""

    def __init__(self, failures: int) -> None:
        super().__init__(clock=SystemClock())
        self.failures = failures

    def claim(self, queues: Sequence[str], *, worker_id: str) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("connection refused")
        return super().claim(queues, worker_id=worker_id)


def test_store_outage_is_survived_with_backoff(log: CapturingLog) -> None:
    """A store that fails a few claims is reported and retried; jobs then run."""
    store = FlakyStore(failures=3)
    proletarian.enqueue(store, "t", None)
    done = threading.Event()
    with QueueWorker(store, lambda t, p: done.set(), log=log):
        assert done.wait(timeout=30)
    outages = log.of("store_unavailable")
    assert len(outages) == 3
    assert [o["retry_in"] for o in outages] == [0.05, 0.1, 0.2]
    assert log.of("store_recovered")


def test_heartbeat_keeps_a_long_job_leased() -> None:
    """A job running longer than its lease is renewed, so no one else takes it."""
    store = MemoryStore(lease=timedelta(milliseconds=150))
    release = threading.Event()
    runs: list[int] = []

    def handler(job: Job, ctx: JobContext) -> None:
        runs.append(job.attempt)
        # Hold the job for several lease lengths; the heartbeat must keep it.
        release.wait(timeout=0.6)

    job_id = proletarian.enqueue(store, "t", None)
    log = CapturingLog()
    with QueueWorker(store, handler, handler_mode="advanced", threads=2, log=log) as worker:
        assert worker.wait_idle(timeout=10)
    assert runs == [1]
    assert status(store, job_id) == (JobStatus.SUCCEEDED, 1)
    assert not log.of("claim_lost")


@pytest.mark.parametrize(
    ("max_abandons", "expected"), [(1, JobStatus.FAILED), (2, JobStatus.SUCCEEDED)]
)
def test_job_whose_worker_died_is_refused_at_the_abandon_limit(
    store: MemoryStore, clock: ManualClock, max_abandons: int, expected: JobStatus
) -> None:
    """A job reclaimed after its lease expired counts one abandonment, whatever its retry policy
    (here none); it runs again below max_abandons and is archived as failed with JobAbandoned,
    without running, at the limit."""
    runs: list[int] = []
    failed: list[BaseException] = []
    job_id = proletarian.enqueue(store, "t", None)
    assert store.claim(["default"], worker_id="died") is not None
    clock.advance(store.lease)
    worker = QueueWorker(
        store,
        lambda t, p: runs.append(1),
        max_abandons=max_abandons,
        on_failed=lambda job, exc: failed.append(exc),
    )
    assert worker.drain() == 1
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.abandons) == (expected, 1, 1)
    assert runs == ([] if expected is JobStatus.FAILED else [1])
    if expected is JobStatus.FAILED:
        assert job.error is not None
        assert job.error.type == "JobAbandoned"
        assert [type(exc) for exc in failed] == [JobAbandoned]


def test_process_next_job_propagates_store_errors() -> None:
    """On the caller's thread, a store error is raised, not swallowed."""
    store = FlakyStore(failures=1)
    with pytest.raises(StoreUnavailable):
        QueueWorker(store, lambda t, p: None).process_next_job()


def test_repr_is_assertable(store: MemoryStore) -> None:
    """The repr names the queue, threads, busy count and stopping flag."""
    worker = QueueWorker(store, lambda t, p: None, queue="emails", threads=4)
    assert repr(worker) == "<QueueWorker queue='emails' threads=4 busy=0 stopping=False>"


def test_null_store_records_and_still_validates() -> None:
    """NullStore drops jobs but refuses bad payloads and records every call."""
    store = NullStore()
    job_id = proletarian.enqueue(store, "t", {"a": 1})
    assert isinstance(job_id, str)
    with pytest.raises(SerializationError):
        proletarian.enqueue(store, "t", {"a": {1, 2}})
    assert store.claim(["default"], worker_id="w") is None
    assert [c.method for c in store.calls] == ["enqueue_many", "claim"]


def test_a_failing_event_sink_never_breaks_a_job(store: MemoryStore) -> None:
    """An event sink that raises is reported to logging; the job still runs to its outcome."""

    def sink(event: str, data: Any) -> None:
        raise RuntimeError("sink down")

    worker = QueueWorker(store, lambda t, p: None, log=sink)
    job_id = proletarian.enqueue(store, "t", None)
    assert worker.drain() == 1
    assert status(store, job_id) == (JobStatus.SUCCEEDED, 1)


def test_null_store_keeps_no_registry_and_lists_nothing() -> None:
    """NullStore's operators' methods check their arguments, record the call and find
    nothing: no jobs, no workers, zero throughput, nothing retried or cancelled."""
    clock = ManualClock()
    store = NullStore(clock=clock)
    assert store.list_jobs(status=JobStatus.FAILED, queue="q").jobs == ()
    with pytest.raises(proletarian.ConfigurationError):
        store.list_jobs(limit=0)
    assert (store.retry_failed_jobs(), store.cancel_queued_jobs(job_type="t")) == (0, 0)
    assert [(m.succeeded, m.failed) for m in store.throughput(2)] == [(0, 0), (0, 0)]
    assert store.heartbeat_worker("w", ["j"], clock.now())
    assert (store.workers(), store.remove_dead_workers(clock.now())) == ([], 0)
    assert [c.method for c in store.calls][:3] == [
        "list_jobs",
        "retry_failed_jobs",
        "cancel_queued_jobs",
    ]
