"""Unique keys under concurrency, on every store with a server or file: threads racing to
enqueue one key, each in a transaction of its own on a connection of its own, make one job."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Any

import pytest

import proletarian
from proletarian import JobId
from proletarian.ports.store import QueueStore
from proletarian.testing import ManualClock
from tests.contract.conftest import fixtures_of

THREADS = 8
ROUNDS = 10


# Each store, with each enqueue in a transaction of the caller's (conn=) or the store's own;
# Redis takes no conn=.
CASES = [
    *((kind, via) for kind in ("postgres", "mysql", "sqlite") for via in ("caller", "own")),
    ("redis", "own"),
]


@pytest.fixture(params=CASES, ids=["-".join(case) for case in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, str]:
    kind, via = request.param
    return str(kind), str(via)


@pytest.fixture
def kind(case: tuple[str, str]) -> str:
    return case[0]


@pytest.fixture
def via(case: tuple[str, str]) -> str:
    return case[1]


@pytest.fixture
def store(kind: str, tmp_path: Path) -> Iterator[QueueStore]:
    with fixtures_of(kind).open_store(clock=ManualClock(), tmp_path=tmp_path) as store:
        yield store


def race(store: QueueStore, kind: str, key: str, via: str) -> list[JobId]:
    """THREADS threads enqueue `key` at once, each in its own transaction (committed), and
    return what each got."""
    transaction: Callable[[QueueStore], Any] = lambda store: nullcontext(None)  # noqa: E731
    if via == "caller":
        transaction = fixtures_of(kind).caller_transaction
    barrier = threading.Barrier(THREADS)
    results: list[JobId] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def enqueue() -> None:
        try:
            with ExitStack() as stack:
                barrier.wait(timeout=30)
                conn = stack.enter_context(transaction(store))
                job_id = proletarian.enqueue(store, "t", None, unique_key=key, conn=conn)
            with lock:
                results.append(job_id)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=enqueue) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_racing_enqueues_of_one_new_key_make_one_job(
    store: QueueStore, kind: str, via: str
) -> None:
    """8 threads enqueueing a new key at once in separate transactions: one creates the job,
    the seven others get its id, and one job exists."""
    for round_ in range(ROUNDS):
        results = race(store, kind, f"race:{round_}", via)
        assert sum(r.created for r in results) == 1
        assert len(set(results)) == 1
    assert sum(s.ready for s in store.stats().values()) == ROUNDS


def test_racing_enqueues_taking_over_a_free_key_make_one_job(
    store: QueueStore, kind: str, via: str
) -> None:
    """8 threads enqueueing a key whose holder has finished (the key is free, its row is
    there): one takes it over, the others get the new job's id."""
    for round_ in range(ROUNDS):
        old = proletarian.enqueue(store, "t", None, unique_key="again")
        claim = store.claim(("default",), worker_id="w")
        assert claim is not None
        assert claim.job.id == old
        claim.succeed()
        results = race(store, kind, "again", via)
        assert sum(r.created for r in results) == 1, round_
        assert len(set(results)) == 1
        assert old not in results
        assert sum(s.ready for s in store.stats().values()) == 1


def test_batches_taking_keys_in_opposite_orders_do_not_deadlock(
    store: QueueStore, kind: str, via: str
) -> None:
    """Two enqueue_many calls with the same new keys in opposite orders, at once: the keys are
    taken in key order, so one call waits for the other (no deadlock), and each key makes one
    job."""
    transaction: Callable[[QueueStore], Any] = lambda store: nullcontext(None)  # noqa: E731
    if via == "caller":
        transaction = fixtures_of(kind).caller_transaction
    errors: list[BaseException] = []
    results: list[list[JobId]] = []
    for round_ in range(ROUNDS):
        keys = [f"a:{round_}", f"b:{round_}", f"c:{round_}"]
        barrier = threading.Barrier(2)

        def enqueue(order: list[str], barrier: threading.Barrier) -> None:
            try:
                barrier.wait(timeout=30)
                with transaction(store) as conn:
                    jobs = [proletarian.NewJob("t", None, unique_key=key) for key in order]
                    results.append(proletarian.enqueue_many(store, jobs, conn=conn))
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=enqueue, args=(order, barrier)) for order in (keys, keys[::-1])
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert sum(s.ready for s in store.stats().values()) == 3 * ROUNDS
    assert sum(job_id.created for ids in results for job_id in ids) == 3 * ROUNDS
