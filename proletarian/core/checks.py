"""Checks of counts and durations given as options. Each raises ConfigurationError naming the
option, what it must be and what came; `validator` makes one an attrs validator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import attrs

from proletarian.core.errors import ConfigurationError

T = TypeVar("T")


def positive_int(value: int, *, what: str) -> int:
    """A count of 1 or more (a bool is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{what} must be an int >= 1, got {value!r}")
    return value


def positive_duration(value: timedelta, *, what: str) -> timedelta:
    """A timedelta longer than zero."""
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ConfigurationError(f"{what} must be a positive timedelta, got {value!r}")
    return value


def optional_duration(value: timedelta | None, *, what: str) -> timedelta | None:
    """A limit: None (no limit) or a timedelta longer than zero."""
    if value is not None and (not isinstance(value, timedelta) or value <= timedelta(0)):
        raise ConfigurationError(f"{what} must be a positive timedelta or None, got {value!r}")
    return value


def validator(check: Callable[..., T]) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator running `check` with the attribute's name as `what`."""

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        check(value, what=attribute.name)

    return validate
