"""Opening the store a command works on, from `--url` or PROLETARIAN_URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from proletarian.cli import values
from proletarian.cli.errors import CliError, UsageError
from proletarian.core import urls
from proletarian.core.urls import redact
from proletarian.ports.store import QueueStore
from proletarian.stores import open_store

URL_VARIABLE = "PROLETARIAN_URL"


def store_url(given: str | None) -> str:
    """`--url` if given, else the PROLETARIAN_URL environment variable."""
    if given:
        return given  # checked with the other arguments
    url = os.environ.get(URL_VARIABLE)
    if not url:
        raise UsageError(f"no store URL: give --url or set {URL_VARIABLE}")
    return values.utf8(url, what=URL_VARIABLE)


@contextmanager
def opened(url: str, **options: Any) -> Iterator[QueueStore]:
    """The store for `url` with `options`, closed at exit. A missing driver is a one-line error
    (exit 1); a bad URL raises ConfigurationError and an unreachable server StoreUnavailable,
    which `main` reports."""
    try:
        store = open_store(url, **options)
    except ImportError as exc:
        raise CliError(f"{exc} (needed for {redact(url)})") from exc
    try:
        yield store
    finally:
        store.close()


def scrub(message: str, url: str | None) -> str:
    """One line, with the URL's password hidden even if a driver echoed it."""
    return " ".join(urls.scrub(message, url).split())
