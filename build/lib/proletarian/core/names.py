"""Validation of the names that reach SQL or storage keys: identifiers, queues and job types."""

from __future__ import annotations

import re

from proletarian.core.errors import ConfigurationError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
MAX_NAME_LENGTH = 255


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
    """Check a queue name or job type: a non-empty string of at most 255 characters."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string, got {type(value).__name__}")
    if not value or len(value) > MAX_NAME_LENGTH or value != value.strip():
        raise ConfigurationError(
            f"{what} {value[:40]!r} must be 1 to {MAX_NAME_LENGTH} characters "
            "with no leading or trailing whitespace"
        )
    return value
