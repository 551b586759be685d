"""Unique keys in the caller's transaction (the outbox), on every store that has one."""

from __future__ import annotations

import pytest

import proletarian
from proletarian.ports.store import QueueStore
from tests.contract.conftest import OUTBOX, STORES, fixtures_of


@pytest.fixture(params=[name for name in STORES if name in OUTBOX])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_rolled_back_enqueue_leaves_the_key_free(store: QueueStore, store_kind: str) -> None:
    """A key taken in the caller's transaction is free again when that transaction rolls
    back, and held by the committed job when it commits."""
    fixtures = fixtures_of(store_kind)

    class Rollback(Exception):
        pass

    taken: list[proletarian.JobId] = []

    def enqueue_then_fail() -> None:
        with fixtures.caller_transaction(store) as conn:
            taken.append(proletarian.enqueue(store, "t", None, unique_key="k", conn=conn))
            raise Rollback

    with pytest.raises(Rollback):
        enqueue_then_fail()
    (lost,) = taken
    assert lost.created
    assert store.get_job(lost) is None
    with fixtures.caller_transaction(store) as conn:
        kept = proletarian.enqueue(store, "t", None, unique_key="k", conn=conn)
    assert kept != lost
    assert kept.created
    again = proletarian.enqueue(store, "t", None, unique_key="k")
    assert (again, again.created) == (kept, False)
