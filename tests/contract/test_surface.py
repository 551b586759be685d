"""One spelling of each thing a store shows the outside, the same on every store."""

from __future__ import annotations

import inspect
from typing import Any

from proletarian.ports.store import QueueStore
from tests.contract.conftest import STORES

# The stores whose tables are SQL: they show their DDL.
SQL_STORES = {"sqlite", "postgres", "postgres_leased", "postgres_extended", "mysql"}


def test_every_store_is_made_from_a_url_by_connect(store: QueueStore) -> None:
    """Every store class has a `connect(url, **options)` classmethod, and the same schema and
    closing methods."""
    kind: Any = type(store)
    assert isinstance(inspect.getattr_static(kind, "connect"), classmethod)
    assert list(inspect.signature(kind.connect).parameters)[:1] == ["url"]
    for method in ("install_schema", "close", "enqueue", "enqueue_many", "claim", "stats"):
        assert callable(getattr(store, method))


def test_every_sql_store_shows_its_ddl_by_schema_sql(store: QueueStore, store_kind: str) -> None:
    """A store whose tables are SQL gives its DDL by `schema_sql()` and, from a URL without
    connecting, by `schema_for_url(url)`; the others have no such method."""
    if store_kind not in SQL_STORES:
        assert not hasattr(store, "schema_sql")
        return
    ddl = store.schema_sql()  # type: ignore[attr-defined]
    assert "CREATE TABLE" in ddl
    assert isinstance(inspect.getattr_static(type(store), "schema_for_url"), classmethod)


def test_the_sql_stores_are_the_ones_listed() -> None:
    """SQL_STORES names stores of the contract suite, so a new store is classed here too."""
    assert set(STORES) >= SQL_STORES
