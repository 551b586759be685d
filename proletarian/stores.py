"""`open_store(url)`: build a store from a URL, importing only the driver that URL needs."""

from __future__ import annotations

from typing import Any

from proletarian.core.urls import kind_of
from proletarian.ports.store import QueueStore


def open_store(url: str, **options: Any) -> QueueStore:
    """postgresql://..., mysql://..., sqlite:///path (sqlite:///:memory: is refused: workers
    and producers could not share it), redis://..., memory://. `options` go to the store
    (serializer=, job_ids=, clock=, table names) and win over the store options in the URL's
    query (`?schema=app&lease=60`), which each store reads by its own rules: see its
    `connect`. ConfigurationError for an option the store does not take."""
    kind = kind_of(url)
    if kind == "memory":
        from proletarian.adapters.memory import MemoryStore

        return MemoryStore.connect(url, **options)
    if kind == "sqlite":
        from proletarian.adapters.sqlite import SQLiteStore

        return SQLiteStore.connect(url, **options)
    if kind == "postgres":
        from proletarian.adapters.postgres import PostgresStore

        return PostgresStore.connect(url, **options)
    if kind == "mysql":
        from proletarian.adapters.mysql import MySQLStore

        return MySQLStore.connect(url, **options)
    from proletarian.adapters.redis import RedisStore

    return RedisStore.connect(url, **options)


def schema_for_url(url: str) -> str | None:
    """The DDL the store `open_store(url)` gives would install, its table names and id kind
    taken from the URL's options, with the DDL file's comments; None for stores without
    tables (memory, Redis). Connects to nothing; needs the store's driver installed."""
    kind = kind_of(url)
    if kind == "sqlite":
        from proletarian.adapters.sqlite import SQLiteStore

        return SQLiteStore.schema_for_url(url)
    if kind == "postgres":
        from proletarian.adapters.postgres import PostgresStore

        return PostgresStore.schema_for_url(url)
    if kind == "mysql":
        from proletarian.adapters.mysql import MySQLStore

        return MySQLStore.schema_for_url(url)
    return None
