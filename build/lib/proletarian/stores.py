"""`open_store(url)`: build a store from a URL, importing only the driver that URL needs."""

from __future__ import annotations

from typing import Any

from proletarian.core.urls import kind_of
from proletarian.ports.store import QueueStore


def open_store(url: str, **options: Any) -> QueueStore:
    """postgresql://..., mysql://..., sqlite:///path (sqlite:///:memory: is refused: workers
    and producers could not share it), redis://..., memory://. `options` go to the store
    (serializer=, job_ids=, clock=, table names)."""
    kind = kind_of(url)
    if kind == "memory":
        from proletarian.adapters.memory import MemoryStore

        return MemoryStore(**options)
    if kind == "sqlite":
        from proletarian.adapters.sqlite import SQLiteStore

        return SQLiteStore.from_url(url, **options)
    if kind == "postgres":
        from proletarian.adapters.postgres import PostgresStore

        return PostgresStore.connect(url, **options)
    if kind == "mysql":
        from proletarian.adapters.mysql import MySQLStore

        return MySQLStore.connect(url, **options)
    from proletarian.adapters.redis import RedisStore

    return RedisStore.connect(url, **options)
