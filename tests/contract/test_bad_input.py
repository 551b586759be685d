"""Bad input through every store: each store refuses the same values with the same error class,
before writing anything, so a test passing on MemoryStore also passes in production."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import proletarian
from proletarian import ConfigurationError, NewJob, SerializationError
from proletarian.adapters.serializers import JsonSerializer
from proletarian.ports.store import QueueStore
from tests.contract.conftest import MakeStore


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


def nested(depth: int) -> list[Any]:
    """A list nested `depth` deep: [[[...]]]."""
    outer: list[Any] = []
    inner = outer
    for _ in range(depth - 1):
        inner.append([])
        inner = inner[0]
    return outer


def circular() -> dict[str, Any]:
    loop: dict[str, Any] = {"list": []}
    loop["list"].append(loop)
    return loop


PAYLOADS: dict[str, tuple[Any, str]] = {
    "surrogate-value": ({"a": ["ok", "x\ud800"]}, r"payload\['a'\]\[1\] .*lone surrogate"),
    "surrogate-key": ({"k\udfff": 1}, r"payload has key 'k\\udfff' .*lone surrogate"),
    "deep": (nested(5000), r"nested more than 100 deep"),
    "circular": (circular(), r"payload\['list'\]\[0\] refers back to payload"),
    "huge-int": ({"n": 10**5000}, r"payload\['n'\] is an int of more than 4300 digits"),
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_payloads_json_cannot_carry_are_refused(
    store: QueueStore, payload: tuple[Any, str]
) -> None:
    """Lone surrogates, nesting past the limit, circular references and ints too long to write
    raise SerializationError naming where the value sits, not a raw Python error."""
    value, message = payload
    refused(store, SerializationError, message, payload=value)


def test_payload_nested_up_to_the_limit_round_trips(store: QueueStore) -> None:
    """A payload nested exactly 100 deep is stored and comes back equal."""
    job_id = proletarian.enqueue(store, "t", nested(100))
    job = store.get_job(job_id)
    assert job is not None
    assert job.payload == nested(100)


class NulText(JsonSerializer):
    """A serializer whose text carries a NUL that JSON would have escaped."""

    def dumps(self, payload: Any) -> str:
        return '"\x00"'


def test_serializer_text_no_store_can_hold_is_refused(make_store: MakeStore) -> None:
    """A serializer whose output holds a NUL raises SerializationError on every store, not a
    driver error on some and a stored job on others."""
    store = make_store(serializer=NulText())
    refused(store, SerializationError, "NUL character at index 1")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"process_in": timedelta.max}, r"process_in .* later than the year 9999"),
        ({"process_in": timedelta(days=3_000_000)}, r"process_in .* later than the year 9999"),
        ({"process_in": 5}, "process_in must be a timedelta, got 5"),
        ({"process_at": "2030-01-01T00:00:00Z"}, "process_at must be a datetime, got str"),
        (
            {"process_at": datetime.max.replace(tzinfo=timezone(-timedelta(hours=5)))},
            r"process_at 9999-12-31T23:59:59.999999-05:00 is later than the year 9999 in UTC",
        ),
        (
            {"process_at": datetime.min.replace(tzinfo=timezone(timedelta(hours=5)))},
            r"process_at 0001-01-01T00:00:00\+05:00 is earlier than the year 1 in UTC",
        ),
    ],
    ids=["timedelta-max", "past-9999", "int-delay", "string-time", "west-of-max", "east-of-min"],
)
def test_due_times_that_can_not_be_stored_are_refused(
    store: QueueStore, fields: dict[str, Any], message: str
) -> None:
    """A delay or time that is not a timedelta or datetime, or one outside the years 1 to 9999
    in UTC, raises ConfigurationError rather than an AttributeError or OverflowError."""
    refused(store, ConfigurationError, message, **fields)


def test_the_last_storable_time_is_accepted(store: QueueStore) -> None:
    """A job due at the last microsecond of year 9999 in UTC is stored as given."""
    last = datetime.max.replace(tzinfo=UTC)
    job_id = proletarian.enqueue(store, "t", 1, process_at=last)
    job = store.get_job(job_id)
    assert job is not None
    assert job.process_at == last


@pytest.mark.parametrize(
    ("older_than", "limit", "message"),
    [
        (timedelta(days=-7), None, r"older_than must be 0 or more, got -7 days"),
        (7, None, "older_than must be a timedelta, got int"),
        ("7d", None, "older_than must be a timedelta, got str"),
        (timedelta.max, None, r"older_than 999999999 days, 23:59:59.999999 reaches before"),
        (timedelta(0), 0, "limit must be a positive int or None, got 0"),
        (timedelta(0), "10", "limit must be a positive int or None, got '10'"),
        (timedelta(0), True, "limit must be a positive int or None, got True"),
    ],
    ids=["negative", "int", "str", "too-long-ago", "zero-limit", "str-limit", "bool-limit"],
)
def test_bad_prune_arguments_are_refused_and_nothing_is_deleted(
    store: QueueStore, older_than: Any, limit: Any, message: str
) -> None:
    """prune_archive with a negative or non-timedelta age (a negative one used to delete the
    whole archive), an age reaching before year 1, or a limit that is not a positive int
    raises ConfigurationError and deletes nothing."""
    job_id = proletarian.enqueue(store, "t", None)
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    claim.succeed()
    with pytest.raises(ConfigurationError, match=message):
        store.prune_archive(older_than, limit=limit)
    assert store.get_job(job_id) is not None
