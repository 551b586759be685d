"""Opening the store a command works on: `--url` or PROLETARIAN_URL, with the `--store-option`
KEY=VALUE pairs added to the URL's query, where every store reads its options (one way for
every command and every store; see each store's URL options in docs/stores/)."""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from proletarian.cli import values
from proletarian.cli.errors import CliError, UsageError
from proletarian.core import urls
from proletarian.core.errors import SchemaMissing
from proletarian.core.urls import kind_of, redact, with_query
from proletarian.ports.store import QueueStore
from proletarian.stores import open_store

URL_VARIABLE = "PROLETARIAN_URL"


def given_url(args: argparse.Namespace) -> str | None:
    """The store URL the command line names, `--store-option`s included; None if it names
    none. For messages too: it is the URL whose passwords they hide."""
    url: str | None = getattr(args, "url", None)
    # The demo, the one command with --path, never reads the variable.
    if not url and "url" in args and "path" not in args:
        url = os.environ.get(URL_VARIABLE) or None
        if url is not None:
            values.utf8(url, what=URL_VARIABLE)
    if url is None:
        return None
    return with_options(url, args)


def store_url(args: argparse.Namespace) -> str:
    """`--url` if given, else the PROLETARIAN_URL environment variable, with the
    `--store-option`s added to its query (replacing the URL's own value of the same name)."""
    url = given_url(args)
    if url is None:
        raise UsageError(f"no store URL: give --url or set {URL_VARIABLE}")
    return url


def with_options(url: str, args: argparse.Namespace) -> str:
    """`url` with the command line's `--store-option KEY=VALUE` pairs in its query."""
    pairs: list[tuple[str, str]] = getattr(args, "store_options", None) or []
    return with_query(url, add=pairs) if pairs else url


@contextmanager
def opened(url: str, *, existing: bool = False, **options: Any) -> Iterator[QueueStore]:
    """The store for `url` with `options`, closed at exit. With `existing`, a SQLite database
    must already be there: a command that only reads or adds to a store refuses to create one
    at a mistyped path (workers, `schema apply` and the demo create it).

    A missing driver is a one-line error (exit 1), and so are missing tables, with the command
    that creates them; a bad URL raises ConfigurationError and an unreachable server
    StoreUnavailable, which `main` reports."""
    with driver_for(url):
        store = open_store(url, **options)
    try:
        if existing:
            _refuse_new_database(store, url)
        yield store
    except SchemaMissing as exc:
        raise CliError(
            f"{exc}; create the tables with: proletarian schema apply --url "
            f"{shlex.quote(redact(url))}"
        ) from exc
    finally:
        store.close()


@contextmanager
def driver_for(url: str) -> Iterator[None]:
    """A store's driver that is not installed, as a one-line error (exit 1) naming the extra."""
    try:
        yield
    except ImportError as exc:
        raise CliError(f"{exc} (needed for {redact(url)})") from exc


def _refuse_new_database(store: QueueStore, url: str) -> None:
    if kind_of(url) != "sqlite":
        return
    path: str = getattr(store, "path", "")
    if path and not os.path.exists(path):
        raise UsageError(
            f"no SQLite database at {path}; check the path, or create it with: "
            f"proletarian schema apply --url {shlex.quote(redact(url))} (a worker creates it too)"
        )


def scrub(message: str, url: str | None) -> str:
    """One line, with the URL's password hidden even if a driver echoed it."""
    return " ".join(urls.scrub(message, url).split())
