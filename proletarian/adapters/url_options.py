"""Store options in a URL's query string (`postgresql://db/app?schema=jobs&lease=60`).

Each store lists the options it reads from its URL, each with the function that turns the text
into the value its constructor takes; the names are the constructor's keyword arguments. Read
here, so every store converts values, and refuses unknown names, in the same words. The store's
constructor then checks the values by its own rules, as it checks keyword arguments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from proletarian.adapters.ids import DatabaseIds, Uuid7Ids
from proletarian.core.errors import ConfigurationError
from proletarian.ports.ids import JobIdStrategy

# A reader turns an option's text into its value, or raises ValueError saying what it expected.
Reader = Callable[[str], Any]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = "none"


def text(value: str) -> str:
    return value


def whole(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError("a whole number") from None


def number(value: str) -> float:
    """Seconds as a float, for options the store takes as numbers (timeouts)."""
    try:
        result = float(value)
    except ValueError:
        raise ValueError("a number of seconds") from None
    if not math.isfinite(result) or result < 0:
        raise ValueError("a number of seconds >= 0")
    return result


def seconds(value: str) -> timedelta:
    """Seconds as a timedelta, for options the store takes as durations."""
    try:
        return timedelta(seconds=number(value))
    except OverflowError:
        raise ValueError("a number of seconds a timedelta can hold") from None


def boolean(value: str) -> bool:
    folded = value.lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError("true or false")


def job_ids(value: str) -> JobIdStrategy:
    """`uuid7` (the default) or `database`, for tables whose ids the database assigns."""
    if value == "uuid7":
        return Uuid7Ids()
    if value == "database":
        return DatabaseIds()
    raise ValueError("uuid7 or database")


def or_none(reader: Reader) -> Reader:
    """`reader`, or None for the text `none`: for options whose None means "no bound"."""

    def read(value: str) -> Any:
        if value.lower() == _NONE:
            return None
        try:
            return reader(value)
        except ValueError as exc:
            raise ValueError(f"{exc} or none") from None

    return read


@attrs.frozen
class UrlOptions:
    """The options one kind of store reads from its URL. `store` names it in messages
    ("PostgreSQL"); `passed_on` says what else its query may hold, which the store hands to
    its driver ("a libpq connection parameter"), for the message about an unknown name."""

    store: str
    readers: Mapping[str, Reader]
    passed_on: str = ""

    def read(
        self, pairs: Iterable[tuple[str, str]], *, driver: Callable[[str], bool] | None = None
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The store options among `pairs`, read, and the pairs left for the store's driver:
        those `driver` accepts (none without it). ConfigurationError naming the option for a
        name neither takes, a store option given twice, or a value its reader refuses; the
        value of an unknown name is never shown, as it may be a secret."""
        options: dict[str, Any] = {}
        rest: list[tuple[str, str]] = []
        for name, value in pairs:
            reader = self.readers.get(name)
            if reader is None:
                if driver is None or not driver(name):
                    raise self.unknown(name)
                rest.append((name, value))
                continue
            if name in options:
                raise ConfigurationError(f"{self.store} URL option {name!r} is given twice")
            try:
                options[name] = reader(value)
            except ValueError as exc:
                raise ConfigurationError(
                    f"{self.store} URL option {name}={value!r} is not valid: expected {exc}"
                ) from None
        return options, rest

    def unknown(self, name: str) -> ConfigurationError:
        """The error for an option `name` neither the store nor its driver takes."""
        also = f"{self.passed_on} or " if self.passed_on else ""
        return ConfigurationError(
            f"{self.store} URL option {name!r} is not supported; expected {also}one of "
            f"{', '.join(sorted(self.readers))}"
        )
