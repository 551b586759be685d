"""Bad input through every store: each store refuses the same values with the same error class,
before writing anything, so a test passing on MemoryStore also passes in production."""

from __future__ import annotations

from typing import Any

import pytest

import proletarian
from proletarian import ConfigurationError, NewJob
from proletarian.ports.store import QueueStore


def nothing_written(store: QueueStore) -> bool:
    return store.stats() == {} and store.claim(["default"], worker_id="w") is None


def refused(store: QueueStore, error: type[Exception], match: str, **fields: Any) -> None:
    """enqueue with `fields`, alone and after a good job in a batch, raises `error` matching
    `match`, and nothing at all is written."""
    job: dict[str, Any] = {"job_type": "t", "payload": 1, **fields}
    with pytest.raises(error, match=match):
        proletarian.enqueue(store, job.pop("job_type"), job.pop("payload"), **job)
    with pytest.raises(error, match=match):
        proletarian.enqueue_many(
            store, [NewJob("t", "good"), NewJob(**{"job_type": "t", "payload": 1, **fields})]
        )
    assert nothing_written(store)


UNSTORABLE_TEXT = {
    "surrogate": ("t\ud800x", r"lone surrogate '\\ud800' at index 1"),
    "low-surrogate": ("\udcff", r"lone surrogate '\\udcff' at index 0"),
    "nul": ("t\x00", "NUL character at index 1"),
}


@pytest.mark.parametrize("field", ["job_type", "queue"])
@pytest.mark.parametrize("text", UNSTORABLE_TEXT.values(), ids=UNSTORABLE_TEXT.keys())
def test_names_no_store_can_hold_are_refused(
    store: QueueStore, field: str, text: tuple[str, str]
) -> None:
    """A job type or queue with a lone surrogate (not Unicode) or a NUL (PostgreSQL text can't
    hold one) raises ConfigurationError naming the field and the character."""
    value, message = text
    refused(store, ConfigurationError, f"{field} .*{message}", **{field: value})


@pytest.mark.parametrize("text", UNSTORABLE_TEXT.values(), ids=UNSTORABLE_TEXT.keys())
@pytest.mark.parametrize("where", ["key", "value"])
def test_meta_no_store_can_hold_is_refused(
    store: QueueStore, where: str, text: tuple[str, str]
) -> None:
    """A meta key or value with a lone surrogate or a NUL raises ConfigurationError."""
    value, message = text
    meta = {value: "v"} if where == "key" else {"k": value}
    refused(store, ConfigurationError, f"meta .*{message}", meta=meta)
