"""The notification contract, for stores that wake workers (memory, PostgreSQL, Redis)."""

from __future__ import annotations

import pytest

import proletarian
from proletarian.ports.store import Notifier, QueueStore
from tests.contract.conftest import NOTIFYING, STORES


@pytest.fixture(params=[name for name in STORES if name in NOTIFYING])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_enqueue_wakes_a_listener_of_its_queue(store: QueueStore) -> None:
    """A listener of a queue hears of a job enqueued there, and not of other queues' jobs."""
    assert isinstance(store, Notifier)
    listener = store.listen(["emails"])
    try:
        assert listener.wait(0.05) is False
        proletarian.enqueue(store, "t", None, queue="other")
        assert listener.wait(0.2) is False
        proletarian.enqueue(store, "t", None, queue="emails")
        assert listener.wait(5) is True
    finally:
        listener.close()
