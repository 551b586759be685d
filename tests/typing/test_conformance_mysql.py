"""Type-check only: mypy proves MySQLStore and its claims satisfy the ports. Nothing here runs."""

from __future__ import annotations

import pymysql

from proletarian.adapters.mysql import MySQLStore
from proletarian.ports.store import Claim, QueueStore


def conformance() -> None:
    store: QueueStore = MySQLStore({"host": "127.0.0.1", "user": "root", "database": "test"})
    made = MySQLStore(lambda: pymysql.connect(host="127.0.0.1"), pool_size=4)
    claim = MySQLStore.connect("mysql://root@127.0.0.1/test").claim(["default"], worker_id="w")
    if claim is not None:
        held: Claim = claim
        del held
    del store, made
