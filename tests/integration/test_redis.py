"""RedisStore's own features: wake-ups, the key layout under a prefix, conn= refusal, callers'
clients, archive retention, calls re-sent after a lost reply, and error translation."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

import proletarian
from proletarian import (
    ConfigurationError,
    JobError,
    JobStatus,
    NewJob,
    QueueWorker,
    StoreUnavailable,
)
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.ids import DatabaseIds
from proletarian.adapters.redis import RedisStore
from proletarian.testing import ManualClock
from tests.fixtures.redis import admin_client, new_prefix, open_store, wipe
from tests.fixtures.servers import REDIS_URL


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock, tmp_path: Path) -> Iterator[RedisStore]:
    with open_store(clock, tmp_path) as store:
        yield store


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_idle_worker_is_woken_by_an_enqueue(tmp_path: Path) -> None:
    """An idle worker whose poll is minutes away runs a new job at once: the enqueue wakes it."""
    with open_store(SystemClock(), tmp_path) as store:
        ran = threading.Event()
        worker = QueueWorker(
            store, lambda job_type, payload: ran.set(), polling_interval=timedelta(minutes=10)
        )
        with worker:
            assert worker.wait_idle(timeout=10)
            proletarian.enqueue(store, "t", None)
            assert ran.wait(timeout=10)


def test_listener_hears_again_after_its_connection_is_killed(tmp_path: Path) -> None:
    """A listener whose connection is killed on the server resubscribes, reports a hint (some
    may have been missed), and hears later enqueues."""
    name = f"plisten-{new_prefix()}"
    with open_store(ManualClock(), tmp_path) as setup:
        store = RedisStore.connect(f"{REDIS_URL}?client_name={name}", prefix=setup.prefix)
        listener = store.listen(["default"])
        try:
            assert listener.wait(0.05) is False
            admin = admin_client()
            killed = [c["id"] for c in admin.client_list() if c["name"] == name]
            for client_id in killed:
                admin.client_kill_filter(_id=client_id)
            admin.close()
            assert killed
            assert listener.wait(5) is True
            proletarian.enqueue(setup, "t", None)
            assert listener.wait(5) is True
        finally:
            listener.close()
            store.close()


def test_conn_is_refused_because_there_is_no_outbox(store: RedisStore) -> None:
    """Any conn= is refused with the reason: Redis is not the application's database."""
    with pytest.raises(ConfigurationError, match="no outbox"):
        proletarian.enqueue(store, "t", None, conn=redis.Redis.from_url(REDIS_URL))
    assert store.stats() == {}


def test_keys_stay_under_the_prefix_as_documented(store: RedisStore, tmp_path: Path) -> None:
    """Every key the store writes starts with its prefix and has a documented role, and a
    store with another prefix on the same database sees none of its jobs."""
    proletarian.enqueue(store, "t", None, queue="q")
    proletarian.enqueue(store, "t", None, queue="q", process_in=timedelta(hours=1))
    running = store.claim(["q"], worker_id="w")
    assert running is not None
    done = proletarian.enqueue(store, "t", None, queue="q")
    claim = store.claim(["q"], worker_id="w")
    assert claim is not None
    claim.succeed()
    proletarian.enqueue(store, "t", None, queue="q")
    keys = {k.decode() for k in store.client.scan_iter(match=f"{store.prefix}:*")}
    assert {key.removeprefix(f"{store.prefix}:").split(":")[0] for key in keys} == {
        "job",
        "ready",
        "scheduled",
        "leased",
        "archive",
        "queues",
        "seq",
        "succeeded",
    }
    assert f"{store.prefix}:job:{done}" in keys
    with open_store(ManualClock(), tmp_path) as other:
        assert other.stats() == {}
        assert other.get_job(done) is None
        assert other.claim(["q"], worker_id="w") is None


@pytest.mark.parametrize("prefix", ["", "has space", "brace{x}", "star*", "é", "x" * 101])
def test_bad_prefix_is_refused(prefix: str) -> None:
    """A prefix outside letters, digits and _ - : . (or over 100 characters) is refused."""
    with pytest.raises(ConfigurationError, match="prefix"):
        RedisStore(redis.Redis(), prefix=prefix)


def test_callers_client_with_decoded_responses_works(tmp_path: Path) -> None:
    """A caller's client made with decode_responses=True serves every operation."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    prefix = new_prefix()
    store = RedisStore(client, prefix=prefix, clock=ManualClock())
    try:
        listener = store.listen(["default"])
        job_id = proletarian.enqueue(store, "t", {"ü": [1]}, meta={"k": "v"})
        assert listener.wait(5) is True
        listener.close()
        claim = store.claim(["default"], worker_id="w")
        assert claim is not None
        assert (claim.job.id, claim.job.payload, claim.job.meta) == (job_id, {"ü": [1]}, {"k": "v"})
        claim.fail(JobError(type="E", message="m"))
        assert store.stats()["default"].failed == 1
        assert store.retry_failed(job_id) is True
        job = store.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.READY
    finally:
        wipe(client, prefix)
        store.close()
        client.close()


def test_archive_keeps_at_most_the_retention(tmp_path: Path) -> None:
    """With archive_retention=2, only the two most recently finished jobs stay archived."""
    with open_store(ManualClock(), tmp_path, archive_retention=2) as store:
        ids = proletarian.enqueue_many(store, [NewJob(job_type="t", payload=i) for i in range(5)])
        while (claim := store.claim(["default"], worker_id="w")) is not None:
            claim.succeed()
        assert [store.get_job(job_id) is not None for job_id in ids] == [False] * 3 + [True] * 2
        assert store.stats()["default"].succeeded == 2
        assert store.client.zcard(f"{store.prefix}:archive") == 2


def test_job_due_one_microsecond_later_waits(store: RedisStore, clock: ManualClock) -> None:
    """Due times are exact to the microsecond: a job due 1 µs from now is not claimed yet."""
    job_id = proletarian.enqueue(store, "t", None, process_in=timedelta(microseconds=1))
    assert store.claim(["default"], worker_id="w") is None
    clock.advance(timedelta(microseconds=1))
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    assert claim.job.id == job_id
    claim.succeed()


def test_outcome_sent_twice_is_recorded_once(store: RedisStore) -> None:
    """An outcome re-sent after its reply was lost (as redis-py does on a dropped connection)
    is recognised: no error, and the job is archived once."""
    proletarian.enqueue(store, "t", None)
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    claim.succeed()
    claim.succeed()
    assert store.stats()["default"].succeeded == 1
    assert store.client.zcard(f"{store.prefix}:archive") == 1


def test_enqueue_sent_twice_is_written_once(store: RedisStore) -> None:
    """An enqueue script re-sent with the same request returns the same ids and writes nothing
    more; a different job with a taken id is refused."""
    args: list[str | int] = [
        store.prefix,
        0,
        "request-1",
        "id-1",
        "default",
        "t",
        "null",
        2,
        0,
        0,
        "",
        "",
        0,
    ]
    assert store._scripts("enqueue", *args) == [1, [b"id-1"], [1]]
    assert store._scripts("enqueue", *args) == [1, [b"id-1"], [1]]
    assert store.stats()["default"].ready == 1
    args[2] = "request-2"
    assert store._scripts("enqueue", *args) == [0, b"id-1"]


def test_taken_job_id_is_refused_and_nothing_written(store: RedisStore) -> None:
    """Enqueueing a job whose id exists raises ConfigurationError and writes none of the batch."""

    class SameId:
        def new_id(self) -> str:
            return "same"

    store.job_ids = SameId()
    proletarian.enqueue(store, "t", None)
    with pytest.raises(ConfigurationError, match="already exists"):
        proletarian.enqueue(store, "t", None)
    assert store.stats()["default"].ready == 1


def test_database_ids_are_refused(store: RedisStore) -> None:
    """Ids assigned by the database can't be used: Redis needs them from the client."""
    store.job_ids = DatabaseIds()
    with pytest.raises(ConfigurationError, match="job ids made by the client"):
        proletarian.enqueue(store, "t", None)


def test_unreachable_server_raises_store_unavailable_without_password() -> None:
    """Every operation on a server that can't be reached raises StoreUnavailable, and the
    message shows the URL with its password hidden."""
    store = RedisStore.connect(f"redis://:s3cret@127.0.0.1:{unused_port()}/0")
    try:
        for call in (
            lambda: store.claim(["default"], worker_id="w"),
            lambda: store.enqueue(NewJob(job_type="t", payload=None)),
            lambda: store.listen(["default"]),
            store.install_schema,
        ):
            with pytest.raises(StoreUnavailable, match=r":\*\*\*@127\.0\.0\.1") as info:
                call()
            assert "s3cret" not in str(info.value)
    finally:
        store.close()


def test_bad_url_is_a_configuration_error() -> None:
    """A URL redis-py can't parse raises ConfigurationError, with its password hidden."""
    with pytest.raises(ConfigurationError, match="not valid") as info:
        RedisStore.connect("redis://:s3cret@127.0.0.1:6379/0?db=notanumber")
    assert "s3cret" not in str(info.value)


def test_open_store_builds_a_redis_store() -> None:
    """proletarian.open_store picks RedisStore for a redis:// URL and passes the options."""
    store = proletarian.open_store(REDIS_URL, prefix=new_prefix())
    try:
        assert isinstance(store, RedisStore)
        store.install_schema()
    finally:
        store.close()
