"""MySQLStore's connection pool, over stand-in connections: what it checks before lending an
idle connection, and what it drops."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pymysql.err import OperationalError

from proletarian.adapters.mysql import _pool


class Stand:
    """A connection that answers pings or, once `dead`, fails them as a lost one does."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dead = False
        self.pings = 0
        self.closed = False

    def ping(self, reconnect: bool) -> None:
        self.pings += 1
        if self.dead:
            raise OperationalError(2013, "Lost connection to MySQL server during query")

    def close(self) -> None:
        self.closed = True


def test_a_failed_check_drops_the_connections_idle_as_long_without_pinging_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the connection that idled least fails its check, those that idled longer are
    closed unpinged (on a silent network each ping would wait read_timeout) and a new
    connection is lent instead."""
    made: list[Stand] = []

    def connect() -> Any:
        made.append(Stand(f"c{len(made)}"))
        return made[-1]

    pool = _pool.ConnectionPool(cast(Any, connect), size=4, timeout=1.0, where="test")
    lent = [pool.get() for _ in range(3)]
    for conn in lent:
        pool.give_back(conn)
    for stand in made:
        stand.dead = True
    monkeypatch.setattr(_pool, "IDLE_CHECK_SECONDS", -1.0)  # every idle connection is checked
    fresh = cast(Any, pool.get())
    assert fresh.name == "c3"
    assert [(s.name, s.pings, s.closed) for s in made[:3]] == [
        ("c0", 0, True),
        ("c1", 0, True),
        ("c2", 1, True),
    ]
    assert pool.in_use == 1
