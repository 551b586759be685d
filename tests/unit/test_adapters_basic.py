"""The JSON serializer, the id strategies and the clocks."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from proletarian import ConfigurationError, SerializationError
from proletarian.adapters.ids import DatabaseIds, Uuid7Ids
from proletarian.adapters.serializers import JsonSerializer
from proletarian.ports.ids import JobIdStrategy
from proletarian.testing import ManualClock


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (float("nan"), "payload is nan"),
        ({"x": [1, float("inf")]}, r"payload\['x'\]\[1\] is inf"),
        (b"bytes", "payload is a bytes"),
        ((1, 2), "payload is a tuple"),
        ({1, 2}, "payload is a set"),
        ({1: "a"}, "key 1 of type int"),
        ({"d": Decimal("1.5")}, r"payload\['d'\] is a Decimal"),
        (object(), "payload is a object"),
    ],
)
def test_json_refuses_what_it_cannot_round_trip(payload: Any, message: str) -> None:
    """NaN, infinities, bytes, tuples, sets, non-str keys and objects are refused by path."""
    with pytest.raises(SerializationError, match=message):
        JsonSerializer().dumps(payload)


def test_json_round_trips_plain_data() -> None:
    """Plain JSON data comes back equal, including unicode and nesting."""
    payload = {"a": [1, 2.5, None, True, "ü€"], "b": {"c": {}}}
    serializer = JsonSerializer()
    assert serializer.loads(serializer.dumps(payload)) == payload


def test_json_size_limit() -> None:
    """A payload over max_bytes is refused with both sizes named; None lifts the limit."""
    with pytest.raises(SerializationError, match="over the limit of 10"):
        JsonSerializer(max_bytes=10).dumps("x" * 20)
    assert JsonSerializer(max_bytes=None).dumps("x" * 20)


@pytest.mark.parametrize("max_bytes", ["x", 0, -1, 1.5, True])
def test_json_size_limit_is_checked_when_built(max_bytes: Any) -> None:
    """A max_bytes that is not a positive int or None is refused by the constructor, not by
    the first dumps."""
    message = f"max_bytes must be a positive int or None, got {max_bytes!r}"
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        JsonSerializer(max_bytes=max_bytes)


def test_json_accepts_one_object_reached_twice() -> None:
    """The same list twice in a payload is not a circular reference: it is written twice."""
    shared = [1, 2]
    serializer = JsonSerializer()
    assert serializer.loads(serializer.dumps({"a": shared, "b": [shared]})) == {
        "a": [1, 2],
        "b": [[1, 2]],
    }


def test_json_nul_in_a_string_round_trips() -> None:
    """A NUL inside a payload string is escaped by JSON, so it is stored and comes back."""
    serializer = JsonSerializer()
    text = serializer.dumps({"a\x00": "b\x00"})
    assert "\x00" not in text
    assert serializer.loads(text) == {"a\x00": "b\x00"}


def test_json_loads_of_a_too_deeply_nested_text_raises_serialization_error() -> None:
    """Stored JSON nested deeper than the decoder can go raises SerializationError, so the
    worker archives it as a poison job rather than dying on RecursionError."""
    with pytest.raises(SerializationError, match="nested too deep to decode"):
        JsonSerializer().loads("[" * 100_000 + "]" * 100_000)


def test_json_loads_garbage_raises_serialization_error() -> None:
    """Stored text that is not JSON raises SerializationError."""
    with pytest.raises(SerializationError, match="not valid JSON"):
        JsonSerializer().loads("{nope")


def test_uuid7_ids_are_version_7_and_strictly_increasing() -> None:
    """UUIDv7 ids carry version 7, the RFC variant, and sort in creation order."""
    ids = Uuid7Ids()
    made = [ids.new_id() for _ in range(2000)]
    parsed = [uuid.UUID(value) for value in made]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_uuid7_timestamp_is_now() -> None:
    """The first 48 bits of a UUIDv7 are the current Unix time in milliseconds."""
    value = uuid.UUID(Uuid7Ids().new_id())
    millis = value.int >> 80
    now = datetime.now(UTC).timestamp() * 1000
    assert abs(now - millis) < 60_000


def test_database_ids_leave_the_id_to_the_database() -> None:
    """DatabaseIds gives no id: the store asks the database for one."""
    strategy: JobIdStrategy = DatabaseIds()
    assert strategy.new_id() is None


def test_manual_clock_moves_only_when_told() -> None:
    """A manual clock stands still until advanced or set, and refuses naive times."""
    clock = ManualClock(datetime(2031, 5, 1, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2031, 5, 1, tzinfo=UTC)
    assert clock.advance(timedelta(seconds=3)) == datetime(2031, 5, 1, 0, 0, 3, tzinfo=UTC)
    assert clock.advance(2) == datetime(2031, 5, 1, 0, 0, 5, tzinfo=UTC)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        clock.set(datetime(2031, 5, 1))
