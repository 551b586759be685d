"""Type-check only: mypy proves SQLiteStore and its claims satisfy the ports. Nothing here runs."""

from __future__ import annotations

from proletarian.adapters.sqlite import SQLiteStore
from proletarian.ports.store import Claim, QueueStore, Renewable


def conformance() -> None:
    store: QueueStore = SQLiteStore("jobs.db")
    claim = SQLiteStore.connect("sqlite:///jobs.db").claim(["default"], worker_id="w")
    if claim is not None:
        held: Claim = claim
        renewable: Renewable = claim
        del held, renewable
    del store
