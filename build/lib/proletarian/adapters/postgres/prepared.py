"""Two round trips per job: the claim and outcome statements prepared on the server once per
connection (PREPARE), then run with EXECUTE in simple-protocol queries that also carry the BEGIN
(the claim) or the COMMIT (the outcome) in the same round trip.

psycopg's own prepared statements use the extended protocol, where BEGIN and COMMIT are round
trips of their own: four per job. Its pipeline mode sends them together but was measured to
cost more CPU than it saved on a 2-core machine. Parameters are bound on the client here
(psycopg's ClientCursor quotes each value by its type), and the plans stay prepared on the
server, so the server parses and plans nothing per job.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row

# Shown as the statements' names; the digest of their text tells stores over other tables (or
# other versions of the SQL) apart on a shared connection.
NAME_PREFIX = "proletarian_"

_PREPARED_NAMES = b"SELECT name FROM pg_prepared_statements WHERE name = ANY(%s)"


class ServerStatements:
    """Named statements prepared on the server, and which pool connections have them.
    Thread-safe; each connection is used by one thread at a time, as the pool lends it."""

    def __init__(self, definitions: Mapping[str, tuple[str, bytes]]) -> None:
        """`definitions` maps a key to (parameter types, body with $1.. placeholders)."""
        digest = hashlib.sha1(  # noqa: S324 - a name, not a secret
            repr(sorted(definitions.items())).encode()
        ).hexdigest()[:10]
        self.names = {key: f"{NAME_PREFIX}{digest}_{key}" for key in definitions}
        # '%' is doubled: these texts go through ClientCursor's placeholder formatting.
        self._prepare = {
            self.names[key]: (
                f"PREPARE {self.names[key]}({types}) AS ".encode() + body.replace(b"%", b"%%")
            )
            for key, (types, body) in definitions.items()
        }
        self._execute = {key: f"EXECUTE {name}".encode() for key, name in self.names.items()}
        self._lock = threading.Lock()
        self._known: weakref.WeakKeyDictionary[psycopg.Connection[Any], set[str]] = (
            weakref.WeakKeyDictionary()
        )

    def missing(self, conn: psycopg.Connection[Any]) -> bytes:
        """The PREPAREs `conn` still needs, as SQL to put before a query (b"" when none). The
        first time a connection is met, the server is asked which it already has (a
        connection may outlive a store, or come from the application's pool)."""
        with self._lock:
            known = self._known.get(conn)
        if known is None:
            names = list(self._prepare)
            found = conn.execute(_PREPARED_NAMES, (names,)).fetchall()
            known = {row[0] for row in found}
            with self._lock:
                self._known[conn] = known
        wanted = [name for name in self._prepare if name not in known]
        return b"".join(self._prepare[name] + b"; " for name in wanted)

    def prepared(self, conn: psycopg.Connection[Any]) -> None:
        """Record that a query carrying `missing(conn)` succeeded: `conn` has them all."""
        with self._lock:
            self._known[conn] = set(self._prepare)

    def forget(self, conn: psycopg.Connection[Any]) -> None:
        """After a failure: ask the server again next time."""
        with self._lock:
            self._known.pop(conn, None)

    def run(
        self,
        conn: psycopg.Connection[Any],
        before: bytes,
        key: str,
        params: Sequence[Any],
        after: bytes = b"",
    ) -> psycopg.ClientCursor[tuple[Any, ...]]:
        """Run `before`, EXECUTE of the statement `key` with `params`, then `after`, in one
        simple-protocol round trip (preceded by the PREPAREs `conn` lacks). Returns the cursor
        on the EXECUTE's result. `before` and `after` are fixed SQL, each statement ending in
        "; " (before) or starting with "; " (after), with no parameters. Driver errors
        propagate."""
        prepare = self.missing(conn)
        placeholders = b"(" + b", ".join([b"%s"] * len(params)) + b")"
        query = prepare + before + self._execute[key] + placeholders + after
        cursor = psycopg.ClientCursor(conn, row_factory=tuple_row)
        try:
            # prepare=False: the statement is ours, prepared by name; psycopg's own cache
            # would only count and compare this text.
            cursor.execute(query, params, prepare=False)
        except psycopg.Error:
            if prepare:
                self.forget(conn)
            raise
        if prepare:
            self.prepared(conn)
        # Results come one per statement: move to the EXECUTE's, after the PREPAREs and BEGIN.
        for _ in range(prepare.count(b"PREPARE ") + before.count(b";")):
            cursor.nextset()
        return cursor
