"""Every store runs the same contract. A store joins by adding its name below and a module
`tests/fixtures/<name>.py` with `open_store(clock, tmp_path, **options)` (a context manager
yielding a fresh, empty store) and `foreign_conn()`."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from proletarian.ports.store import QueueStore
from proletarian.testing import ManualClock

STORES = ["memory", "sqlite", "redis", "postgres", "postgres_extended", "postgres_leased", "mysql"]
# Stores whose claims are leases (Renewable): they also run the lease tests.
LEASED = {"memory", "sqlite", "redis", "postgres_leased"}
# Stores that enqueue in the caller's transaction (conn=): their fixtures module has
# caller_transaction(store), and they run the outbox tests.
OUTBOX = {"memory", "sqlite", "postgres", "postgres_extended", "postgres_leased", "mysql"}
# Stores that wake workers through listen(): they also run the notification tests.
NOTIFYING = {"memory", "postgres", "postgres_extended", "postgres_leased", "redis"}

MakeStore = Callable[..., QueueStore]


def fixtures_of(name: str) -> ModuleType:
    return importlib.import_module(f"tests.fixtures.{name}")


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_store(store_kind: str, clock: ManualClock, tmp_path: Path) -> Iterator[MakeStore]:
    """Build a store of the kind under test over empty storage; `clock=` and other options
    may be overridden."""
    module = fixtures_of(store_kind)
    with ExitStack() as stack:

        def make(**options: Any) -> QueueStore:
            options.setdefault("clock", clock)
            store: QueueStore = stack.enter_context(module.open_store(tmp_path=tmp_path, **options))
            return store

        yield make


@pytest.fixture
def store(make_store: MakeStore) -> QueueStore:
    return make_store()


@pytest.fixture
def foreign_conn(store_kind: str) -> object:
    return fixtures_of(store_kind).foreign_conn()
