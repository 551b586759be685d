"""The serializer port: payloads to stored text and back."""

from __future__ import annotations

from typing import Any, Protocol


class Serializer(Protocol):
    """Both methods raise SerializationError naming what is wrong; they never return a lossy
    result. Safe to share between threads."""

    def dumps(self, payload: Any) -> str:
        """The text to store for `payload`."""

    def loads(self, data: str) -> Any:
        """The payload stored as `data`, equal to the one given to `dumps`."""
