"""Bad input through every real store: payloads the serializer refuses (including one over a
configured size limit) write nothing, and a stored payload corrupted behind the store's back is
archived as failed with the reason while the worker goes on."""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import proletarian
from proletarian import JobStatus, NewJob, QueueWorker, SerializationError
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.serializers import JsonSerializer
from proletarian.ports.store import QueueStore
from tests.fixtures import mysql as mysql_fixtures
from tests.fixtures import postgres as pg_fixtures

KINDS = ["postgres", "mysql", "sqlite", "redis"]


@contextmanager
def opened(kind: str, tmp_path: Path, **options: Any) -> Iterator[QueueStore]:
    """A store of `kind` over empty storage (the contract suite's fixtures)."""
    fixtures = importlib.import_module(f"tests.fixtures.{kind}")
    with fixtures.open_store(SystemClock(), tmp_path, **options) as store:
        yield store


def nothing_written(store: QueueStore) -> bool:
    return store.stats() == {} and store.claim(["default"], worker_id="w") is None


@pytest.mark.parametrize("kind", KINDS)
def test_payload_over_the_size_limit_writes_nothing(kind: str, tmp_path: Path) -> None:
    """With JsonSerializer(max_bytes=100), a larger payload raises SerializationError naming
    the limit, alone or in a batch with a good job, and nothing is written."""
    with opened(kind, tmp_path, serializer=JsonSerializer(max_bytes=100)) as store:
        big = {"text": "x" * 200}
        with pytest.raises(SerializationError, match="over the limit of 100"):
            proletarian.enqueue(store, "t", big)
        batch = [NewJob(job_type="t", payload="small"), NewJob(job_type="t", payload=big)]
        with pytest.raises(SerializationError, match="over the limit of 100"):
            proletarian.enqueue_many(store, batch)
        assert nothing_written(store)
        assert proletarian.enqueue(store, "t", "x" * 90)  # just under the limit


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"ratio": float("nan")}, "is nan"),
        ({"blob": b"\x00\x01"}, "is a bytes"),
        ({"obj": object()}, "is a object"),
    ],
    ids=["nan", "bytes", "object"],
)
def test_unserializable_payload_writes_nothing(
    kind: str, payload: Any, message: str, tmp_path: Path
) -> None:
    """NaN, bytes and arbitrary objects are refused with the path to the bad value."""
    with opened(kind, tmp_path) as store:
        with pytest.raises(SerializationError, match=message):
            proletarian.enqueue(store, "t", payload)
        with pytest.raises(SerializationError, match=message):
            proletarian.enqueue_many(
                store, [NewJob(job_type="t", payload=1), NewJob(job_type="t", payload=payload)]
            )
        assert nothing_written(store)


def corrupt_postgres(store: Any, job_id: str) -> None:
    with pg_fixtures.admin() as conn:
        conn.execute(
            f"UPDATE {pg_fixtures.SCHEMA}.job SET payload = '{{not json' WHERE job_id = %s",
            (job_id,),
        )


def corrupt_mysql(store: Any, job_id: str) -> None:
    mysql_fixtures.execute(
        f"UPDATE `{mysql_fixtures.JOB_TABLE}` SET payload = '{{not json' "
        "WHERE job_id = UNHEX(REPLACE(%s, '-', ''))",
        job_id,
    )


def corrupt_sqlite(store: Any, job_id: str) -> None:
    conn = sqlite3.connect(store.path)
    try:
        with conn:
            conn.execute("UPDATE job SET payload = '{not json' WHERE job_id = ?", (job_id,))
    finally:
        conn.close()


def corrupt_redis(store: Any, job_id: str) -> None:
    store.client.hset(f"{store.prefix}:job:{job_id}", "payload", "{not json")


CORRUPT: dict[str, Callable[[Any, str], None]] = {
    "postgres": corrupt_postgres,
    "mysql": corrupt_mysql,
    "sqlite": corrupt_sqlite,
    "redis": corrupt_redis,
}


@pytest.mark.parametrize("kind", KINDS)
def test_corrupted_stored_payload_fails_the_job_and_the_worker_goes_on(
    kind: str, tmp_path: Path
) -> None:
    """A payload changed in storage into something that is not JSON: the job is archived as
    failed with a SerializationError saying why, without running its handler, and the jobs
    after it run."""
    ran: list[Any] = []
    with opened(kind, tmp_path) as store:
        bad = proletarian.enqueue(store, "t", {"n": 0})
        good = proletarian.enqueue_many(store, [NewJob(job_type="t", payload={"n": 1})])[0]
        CORRUPT[kind](store, bad)
        worker = QueueWorker(store, lambda job_type, payload: ran.append(payload))
        assert worker.drain() == 2
        failed = store.get_job(bad)
        assert failed is not None
        assert failed.status is JobStatus.FAILED
        assert failed.error is not None
        assert failed.error.type == "SerializationError"
        assert "not valid JSON" in failed.error.message
        done = store.get_job(good)
        assert done is not None
        assert done.status is JobStatus.SUCCEEDED
    assert ran == [{"n": 1}]
