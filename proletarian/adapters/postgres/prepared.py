"""How the transactional claim runs its statements (the claims and their outcomes): prepared on
the server (ServerStatements, the default) or in psycopg's extended protocol
(ExtendedStatements, `server_prepared=False`). Both run the same definitions, with the same
parameters, given by name.

ServerStatements takes two round trips per job: the statements are prepared on the server once
per connection (PREPARE), then run with EXECUTE in simple-protocol queries that also carry the
BEGIN (the claim) or the COMMIT (the outcome). psycopg's own prepared statements use the
extended protocol, where BEGIN and COMMIT are round trips of their own: four per job, which is
what ExtendedStatements does, for poolers that can't carry prepared statements. psycopg's
pipeline mode sends them together but was measured to cost more CPU than it saved on a 2-core
machine. Parameters are bound on the client here (psycopg's ClientCursor quotes each value by
its type), and the plans stay prepared on the server, so the server parses and plans nothing
per job.
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

import attrs
import psycopg
from psycopg.rows import RowFactory

# Shown as the statements' names; the digest of their text tells stores over other tables (or
# other versions of the SQL) apart on a shared connection.
NAME_PREFIX = "proletarian_"

_PREPARED_NAMES = b"SELECT name FROM pg_prepared_statements WHERE name = ANY(%s)"
_NAMED = re.compile(rb"%\((\w+)\)s")

R = TypeVar("R")


@attrs.frozen(kw_only=True)
class Definition:
    """A statement the claim runs: its SQL with %(name)s parameters, and the SQL type of each
    parameter, by name (PREPARE declares them)."""

    query: bytes
    types: Mapping[str, str]


class ClaimStatements(Protocol):
    """Runs the claim's statements, each named by its key in the definitions."""

    def run(
        self,
        conn: psycopg.Connection[Any],
        key: str,
        params: Mapping[str, Any],
        row_factory: RowFactory[R],
        *,
        before: Sequence[bytes] = (),
        after: Sequence[bytes] = (),
    ) -> psycopg.Cursor[R]:
        """Run the statements `before` (fixed SQL, no parameters), the statement `key` with
        `params`, then the statements `after`, and return the cursor on the result of `key`.
        A statement that fails ends the run: those after it are not run. Driver errors
        propagate."""
        ...

    def forget(self, conn: psycopg.Connection[Any]) -> None:
        """After `conn` lost what was prepared on it behind our back: prepare it again."""
        ...


def numbered(query: bytes) -> tuple[bytes, tuple[str, ...]]:
    """`query` with its %(name)s parameters as $1, $2, ... numbered in the order they first
    appear, and their names in that order: the order the values are bound in."""
    names = tuple(dict.fromkeys(name.decode() for name in _NAMED.findall(query)))
    number = {name.encode(): f"${i}".encode() for i, name in enumerate(names, 1)}
    return _NAMED.sub(lambda match: number[match.group(1)], query), names


class ExtendedStatements:
    """The statements sent as they are, in three round trips: `before`, the statement (psycopg
    binds its parameters by name, and prepares it after its fifth use on a connection), then
    `after`."""

    def __init__(self, definitions: Mapping[str, Definition]) -> None:
        self._queries = {key: definition.query for key, definition in definitions.items()}

    def run(
        self,
        conn: psycopg.Connection[Any],
        key: str,
        params: Mapping[str, Any],
        row_factory: RowFactory[R],
        *,
        before: Sequence[bytes] = (),
        after: Sequence[bytes] = (),
    ) -> psycopg.Cursor[R]:
        if before:
            conn.execute(b"; ".join(before))
        cursor = conn.cursor(row_factory=row_factory).execute(self._queries[key], params)
        if after:
            conn.execute(b"; ".join(after))
        return cursor

    def forget(self, conn: psycopg.Connection[Any]) -> None:
        """Nothing is prepared by name here."""


class ServerStatements:
    """Named statements prepared on the server, and which pool connections have them.
    Thread-safe; each connection is used by one thread at a time, as the pool lends it."""

    def __init__(self, definitions: Mapping[str, Definition]) -> None:
        digest = hashlib.sha1(  # noqa: S324 - a name, not a secret
            repr(
                sorted((key, d.query, sorted(d.types.items())) for key, d in definitions.items())
            ).encode()
        ).hexdigest()[:10]
        self.names = {key: f"{NAME_PREFIX}{digest}_{key}" for key in definitions}
        self._prepare: dict[str, bytes] = {}
        self._execute: dict[str, bytes] = {}
        self._params: dict[str, tuple[str, ...]] = {}
        for key, definition in definitions.items():
            body, params = numbered(definition.query)
            name = self.names[key]
            types = ", ".join(definition.types[param] for param in params)
            # '%' is doubled: these texts go through ClientCursor's placeholder formatting.
            self._prepare[name] = f"PREPARE {name}({types}) AS ".encode() + body.replace(
                b"%", b"%%"
            )
            placeholders = ", ".join(["%s"] * len(params))
            self._execute[key] = f"EXECUTE {name}({placeholders})".encode()
            self._params[key] = params
        self._lock = threading.Lock()
        self._known: weakref.WeakKeyDictionary[psycopg.Connection[Any], set[str]] = (
            weakref.WeakKeyDictionary()
        )

    def missing(self, conn: psycopg.Connection[Any]) -> list[bytes]:
        """The PREPAREs `conn` still needs. The first time a connection is met, the server is
        asked which it already has (a connection may outlive a store, or come from the
        application's pool)."""
        with self._lock:
            known = self._known.get(conn)
        if known is None:
            found = conn.execute(_PREPARED_NAMES, (list(self._prepare),)).fetchall()
            known = {name for (name,) in found}
            with self._lock:
                self._known[conn] = known
        return [prepare for name, prepare in self._prepare.items() if name not in known]

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
        key: str,
        params: Mapping[str, Any],
        row_factory: RowFactory[R],
        *,
        before: Sequence[bytes] = (),
        after: Sequence[bytes] = (),
    ) -> psycopg.Cursor[R]:
        """Everything in one simple-protocol round trip, preceded by the PREPAREs `conn`
        lacks."""
        prepare = self.missing(conn)
        statements = [*prepare, *before, self._execute[key], *after]
        cursor = psycopg.ClientCursor(conn, row_factory=row_factory)
        values = [params[name] for name in self._params[key]]
        try:
            # prepare=False: the statement is ours, prepared by name; psycopg's own cache
            # would only count and compare this text.
            cursor.execute(b"; ".join(statements), values, prepare=False)
        except psycopg.Error:
            if prepare:
                self.forget(conn)
            raise
        if prepare:
            self.prepared(conn)
        # Results come one per statement: move on to the EXECUTE's.
        for _ in range(len(prepare) + len(before)):
            cursor.nextset()
        return cursor
