"""Type-check only: mypy proves PostgresStore, its claims and its listener satisfy the ports.
Nothing here runs, so nothing connects."""

from __future__ import annotations

from typing import Any

from psycopg_pool import ConnectionPool

from proletarian.adapters.postgres import PostgresStore
from proletarian.ports.store import Claim, Listener, Notifier, QueueStore


def conformance() -> None:
    pool: ConnectionPool[Any] = ConnectionPool("postgresql://127.0.0.1/test", open=False)
    store: QueueStore = PostgresStore(pool)
    notifier: Notifier = PostgresStore.connect("postgresql://127.0.0.1/test")
    listener: Listener = notifier.listen(["default"])
    claim = PostgresStore(pool).claim(["default"], worker_id="w")
    if claim is not None:
        held: Claim = claim
        del held
    del store, listener
