"""JSON payloads, refusing anything that would not come back exactly as it went in."""

from __future__ import annotations

import json
import math
from typing import Any

from proletarian.core.errors import SerializationError

DEFAULT_MAX_BYTES = 1_000_000


class JsonSerializer:
    """Accepts dicts with str keys, lists, str, int, finite float, bool and None; a tuple, a set,
    bytes, a datetime, NaN or an object raises SerializationError naming where it sits.
    Payloads over `max_bytes` of UTF-8 are refused (None lifts the limit)."""

    def __init__(self, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes

    def dumps(self, payload: Any) -> str:
        _check(payload, "payload")
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
        try:
            return json.loads(data)
        except (ValueError, TypeError) as exc:
            raise SerializationError(f"stored payload is not valid JSON: {exc}") from exc

    def __repr__(self) -> str:
        return f"JsonSerializer(max_bytes={self.max_bytes!r})"


def _check(value: Any, path: str) -> None:
    # An explicit walk, rather than json.dumps(default=...), because json silently turns tuples
    # into lists and int keys into strings: the handler would get something else.
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(f"{path} is {value!r}, which JSON cannot represent")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(
                    f"{path} has key {key!r} of type {type(key).__name__}; JSON keys are strings"
                )
            _check(item, f"{path}[{key!r}]")
        return
    raise SerializationError(
        f"{path} is a {type(value).__name__}, which JSON cannot round-trip "
        "(use dict, list, str, int, float, bool or None)"
    )
