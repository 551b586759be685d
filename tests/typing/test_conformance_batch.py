"""Type-check only: mypy proves the stores with batch claims satisfy BatchClaimer, and their
batch claims satisfy Claim. Nothing here runs, so nothing connects."""

from __future__ import annotations

from typing import Any

from psycopg_pool import ConnectionPool

from proletarian.adapters.memory import MemoryStore
from proletarian.adapters.postgres import PostgresStore
from proletarian.ports.store import BatchClaimer, Claim


def conformance() -> None:
    pool: ConnectionPool[Any] = ConnectionPool("postgresql://127.0.0.1/test", open=False)
    stores: list[BatchClaimer] = [PostgresStore(pool), MemoryStore()]
    for store in stores:
        claims: list[Claim] = list(store.claim_batch(["default"], worker_id="w", limit=10))
        del claims
    held: list[Claim] = [*PostgresStore(pool).claim_batch(["default"], worker_id="w", limit=2)]
    del held
