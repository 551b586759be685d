"""Validation of the names that reach SQL or storage keys: identifiers, queues and job types."""

from __future__ import annotations

import re
from collections.abc import Sequence

from proletarian.core.errors import ConfigurationError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
MAX_NAME_LENGTH = 255
# A NUL can't be held by PostgreSQL text, and a lone surrogate is not Unicode at all: UTF-8,
# which every store writes, can't encode it. Both are refused whatever the store, so a test on
# MemoryStore refuses what production would.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(text: str, *, allow_nul: bool = False) -> str | None:
    """What in `text` no store can hold, worded for an error message; None if every store can.
    `allow_nul=True` lets NUL pass, for text that will be escaped (a JSON string's)."""
    if text.isascii() and (allow_nul or "\x00" not in text):  # the common case, without a scan
        return None
    found = (_SURROGATE if allow_nul else _UNSTORABLE).search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return f"a NUL character at index {found.start()}"
    return f"a lone surrogate {found.group()!r} at index {found.start()}, which is not Unicode"


def storable(value: str, limit: int) -> str:
    """`value` with what `unstorable` finds written as visible backslash escapes, at most
    `limit` characters long: text over it keeps its beginning and its end (where a traceback
    names the error), with a note of how much was cut between them. For text proletarian
    records itself (an error's message and traceback), which must never be refused."""
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    if unstorable(value) is not None:
        value = _UNSTORABLE.sub(_escaped, value)
    if len(value) <= limit:
        return value
    # The note's length is bounded with the widest count it could hold, so the result fits.
    keep = max(limit - len(_cut_note(len(value))), 0)
    head = keep // 4
    return value[:head] + _cut_note(len(value) - keep) + value[len(value) - (keep - head) :]


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _cut_note(count: int) -> str:
    return f"\n[... {count} characters cut ...]\n"


def text(value: str, *, what: str) -> str:
    """Check a string stored as text (a name, a meta key or value): ConfigurationError if it is
    not a string or holds what `unstorable` finds."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string, got {type(value).__name__}")
    problem = unstorable(value)
    if problem is not None:
        raise ConfigurationError(f"{what} {value[:40]!r} contains {problem}")
    return value


def table_name(value: str, *, what: str = "table name") -> tuple[str, ...]:
    """Split an optionally schema-qualified table name into validated identifier parts."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string, got {type(value).__name__}")
    parts = tuple(value.split("."))
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise ConfigurationError(
            f"{what} {value!r} is not a valid identifier "
            "(letters, digits, underscore, not starting with a digit; at most 63 each; "
            "optionally schema.table)"
        )
    return parts


def label(value: str, *, what: str) -> str:
    """Check a queue name or job type: a non-empty string of at most 255 characters, with no
    surrounding whitespace and nothing `unstorable`."""
    text(value, what=what)
    if not value or len(value) > MAX_NAME_LENGTH or value != value.strip():
        raise ConfigurationError(
            f"{what} {value[:40]!r} must be 1 to {MAX_NAME_LENGTH} characters "
            "with no leading or trailing whitespace"
        )
    return value


def queue_names(queue: str | Sequence[str]) -> tuple[str, ...]:
    """One queue name, or several in order, as a tuple of checked names; at least one."""
    names = (queue,) if isinstance(queue, str) else tuple(queue)
    if not names:
        raise ConfigurationError("queue must name at least one queue")
    return tuple(label(name, what="queue") for name in names)
