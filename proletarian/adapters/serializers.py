"""JSON payloads, refusing anything that would not come back exactly as it went in."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from proletarian.core.errors import ConfigurationError, SerializationError
from proletarian.core.names import unstorable

DEFAULT_MAX_BYTES = 1_000_000
# Deeper payloads are refused when written: json recurses once per level when reading too, so a
# much deeper payload could be stored and then fail in the worker, far from where it came in.
MAX_DEPTH = 100
# Only ints past 64 bits can be too long for Python to write as text (sys.set_int_max_str_digits).
_SMALL_INT_BITS = 64


class JsonSerializer:
    """Accepts dicts with str keys, lists, str, int, finite float, bool and None; a tuple, a set,
    bytes, a datetime, NaN, a string with a lone surrogate, an int too long to write, nesting
    over 100 deep, a circular reference or an object raises SerializationError naming where it
    sits. Thread-safe.

    Args:
        max_bytes: The largest payload accepted, in bytes of UTF-8 JSON (default 1,000,000);
            None lifts the limit.
    """

    def __init__(self, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> None:
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1
        ):
            raise ConfigurationError(
                f"JsonSerializer max_bytes must be a positive int or None, got {max_bytes!r}"
            )
        self.max_bytes = max_bytes

    def dumps(self, payload: Any) -> str:
        """The payload as compact JSON text; SerializationError for one it refuses."""
        _check(payload, "payload", 0, {})
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        # A character is at most 4 bytes of UTF-8: most payloads need no encoding to be sized.
        if self.max_bytes is not None and len(text) * 4 > self.max_bytes:
            size = len(text.encode())
            if size > self.max_bytes:
                raise SerializationError(
                    f"payload is {size} bytes of JSON, over the limit of {self.max_bytes}"
                )
        return text

    def loads(self, data: str) -> Any:
        """The payload stored as `data`; SerializationError if it is not valid JSON."""
        try:
            return json.loads(data)
        except (ValueError, TypeError) as exc:
            raise SerializationError(f"stored payload is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise SerializationError("stored payload is nested too deep to decode") from exc

    def __repr__(self) -> str:
        return f"JsonSerializer(max_bytes={self.max_bytes!r})"


def _check(value: Any, path: str, depth: int, containing: dict[int, str]) -> None:
    """Refuse what JSON would change or fail on. `containing` maps the id of each list or dict
    on the way down to its path, to name a circular reference."""
    # An explicit walk, rather than json.dumps(default=...), because json silently turns tuples
    # into lists and int keys into strings: the handler would get something else. JSON escapes
    # a NUL, so in a string only a lone surrogate (not Unicode, so not UTF-8) can't be stored.
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if not value.isascii():  # ASCII can't hold a surrogate: no call for most strings
            problem = unstorable(value, allow_nul=True)
            if problem is not None:
                raise SerializationError(f"{path} contains {problem}")
        return
    if isinstance(value, int):
        if value.bit_length() > _SMALL_INT_BITS:
            try:
                str(value)
            except ValueError:
                raise SerializationError(
                    f"{path} is an int of more than {sys.get_int_max_str_digits()} digits, "
                    "too long to write as JSON text"
                ) from None
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(f"{path} is {value!r}, which JSON cannot represent")
        return
    if isinstance(value, list | dict):
        _check_container(value, path, depth + 1, containing)
        return
    raise SerializationError(
        f"{path} is a {type(value).__name__}, which JSON cannot round-trip "
        "(use dict, list, str, int, float, bool or None)"
    )


def _check_container(
    value: list[Any] | dict[Any, Any], path: str, depth: int, containing: dict[int, str]
) -> None:
    if id(value) in containing:
        raise SerializationError(f"{path} refers back to {containing[id(value)]}")
    if depth > MAX_DEPTH:
        raise SerializationError(f"payload is nested more than {MAX_DEPTH} deep")
    containing[id(value)] = path
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth, containing)
    else:
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(
                    f"{path} has key {key!r} of type {type(key).__name__}; JSON keys are strings"
                )
            problem = unstorable(key, allow_nul=True)
            if problem is not None:
                raise SerializationError(f"{path} has key {key[:40]!r} containing {problem}")
            _check(item, f"{path}[{key!r}]", depth, containing)
    del containing[id(value)]
