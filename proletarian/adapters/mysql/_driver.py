"""The PyMySQL boundary: making connections, running statements in as few round trips as the
connection allows, and translating driver errors into proletarian's."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pymysql.connections import Connection
from pymysql.constants import CLIENT
from pymysql.cursors import Cursor

# Bound once here, not looked up as pymysql.err.X: pymysql.install_as_MySQLdb() (as Django users
# do) lets `import MySQLdb.err` run a second copy of the module and rebind pymysql.err to it, and
# the driver goes on raising the first copy's classes.
from pymysql.err import InterfaceError, MySQLError

from proletarian.adapters import url_options as read
from proletarian.adapters.mysql import _network
from proletarian.core.errors import (
    ConfigurationError,
    SchemaMissing,
    StoreError,
    StoreUnavailable,
)
from proletarian.core.urls import redact

__all__ = [
    "CONNECTION_OPTIONS",
    "Connection",
    "Result",
    "Step",
    "allows_batches",
    "connection_kwargs",
    "connector",
    "is_connection_error",
    "is_in_step",
    "is_mariadb",
    "run",
    "translate",
]

Step = tuple[str, Sequence[Any]]
Result = tuple[tuple[Any, ...], ...]

# Server errors that mean the session is gone or was never granted: the connection can't be used.
_GONE_CODES = frozenset(
    {
        1040,  # too many connections
        1044,  # access denied to the database
        1045,  # access denied for the user
        1053,  # server shutdown in progress
        1152,  # aborted connection
        1927,  # MariaDB: connection was killed
        3169,  # MySQL: session was killed
        4031,  # MySQL: disconnected by the server for inactivity
    }
)
# Server errors of the store's own statements when its tables, or a column a later release
# added, are not there: install_schema() creates them.
_SCHEMA_MISSING_CODES = frozenset(
    {
        1054,  # unknown column
        1146,  # table doesn't exist
    }
)
# Query parameters of a mysql:// URL passed on to pymysql.connect, with their readers.
CONNECTION_OPTIONS: dict[str, read.Reader] = {
    "unix_socket": read.text,
    "charset": read.text,
    "connect_timeout": read.number,
    "read_timeout": read.number,
    "write_timeout": read.number,
    "keepalives": read.whole,
    "keepalives_idle": read.whole,
    "keepalives_interval": read.whole,
    "keepalives_count": read.whole,
    "tcp_user_timeout": read.whole,
    "ssl_ca": read.text,
    "ssl_cert": read.text,
    "ssl_key": read.text,
}
# Every connection the store uses reads committed data: a claim's locking read then takes no
# gap locks, so a held claim never blocks an enqueue into the same queue.
_SESSION_SETUP = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"


def connection_kwargs(url: str, options: read.UrlOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    """pymysql.connect keyword arguments for mysql://user:password@host:port/database?query,
    and the store's own options from the query. `options` reads the query: it holds
    CONNECTION_OPTIONS, which go to pymysql, and the store's, which are returned apart."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"MySQL URL {redact(url)!r} is malformed: {exc}") from None
    if parts.scheme not in ("mysql", "mariadb"):
        raise ConfigurationError(
            f"MySQL URL {redact(url)!r} must start with mysql:// or mariadb://"
        )
    kwargs: dict[str, Any] = {"host": parts.hostname or "localhost", "port": port or 3306}
    if parts.username:
        kwargs["user"] = unquote(parts.username)
    if parts.password is not None:
        kwargs["password"] = unquote(parts.password)
    database = unquote(parts.path.lstrip("/"))
    if database:
        kwargs["database"] = database
    given, _ = options.read(parse_qsl(parts.query, keep_blank_values=True))
    kwargs.update((k, v) for k, v in given.items() if k in CONNECTION_OPTIONS)
    return kwargs, {k: v for k, v in given.items() if k not in CONNECTION_OPTIONS}


def connector(
    connect: Callable[[], Connection] | Mapping[str, Any],
) -> tuple[Callable[[], Connection], str]:
    """A function making connections ready for the store, and a password-free description of
    where they go. Connections made from keyword arguments get the network timeouts of
    _network (where the arguments don't set them) and allow several statements per round
    trip; those from a caller's function are used as they come (one statement per trip)."""
    if isinstance(connect, Mapping):
        kwargs, tcp = _network.split(connect)
        kwargs["client_flag"] = int(kwargs.get("client_flag", 0)) | CLIENT.MULTI_STATEMENTS
        kwargs.setdefault("charset", "utf8mb4")
        make: Callable[[], Connection] = lambda: _network.open_connection(kwargs, tcp)  # noqa: E731
        where = (
            f"{kwargs.get('user') or ''}@{kwargs.get('unix_socket') or kwargs.get('host')}"
            f":{kwargs.get('port', 3306)}/{kwargs.get('database') or ''}"
        )
    elif callable(connect):
        make = connect
        where = getattr(connect, "__qualname__", None) or repr(connect)
    else:
        raise ConfigurationError(
            "MySQLStore needs `connection` to be a function returning a pymysql connection or a "
            f"mapping of pymysql.connect arguments, got {type(connect).__name__}"
        )

    def prepared() -> Connection:
        conn = make()
        if not isinstance(conn, Connection):
            raise ConfigurationError(
                f"connection= returned a {type(conn).__module__}.{type(conn).__qualname__}, "
                "not a pymysql.connections.Connection"
            )
        try:
            conn.autocommit(False)
            with conn.cursor(Cursor) as cursor:
                cursor.execute(_SESSION_SETUP)
        except BaseException:
            conn.close()
            raise
        return conn

    return prepared, where


def allows_batches(conn: Connection) -> bool:
    return bool(conn.client_flag & CLIENT.MULTI_STATEMENTS)


def is_mariadb(conn: Connection) -> bool:
    """MariaDB (10.5+) has INSERT ... RETURNING; MySQL has not. Known from the handshake."""
    version: str = conn.get_server_info()  # type: ignore[no-untyped-call]
    return "mariadb" in version.lower()


def run(conn: Connection, steps: Sequence[Step]) -> list[Result]:
    """Run `steps` in order and return each one's rows. One round trip when the connection
    allows several statements (the parameters are interpolated client-side either way), one
    per step otherwise. A failing step stops the rest; the transaction is left to the caller."""
    results: list[Result] = []
    with conn.cursor(Cursor) as cursor:
        if len(steps) > 1 and allows_batches(conn):
            sql = ";\n".join(statement for statement, _ in steps)
            cursor.execute(sql, [value for _, params in steps for value in params] or None)
            results.append(cursor.fetchall())
            while cursor.nextset():
                results.append(cursor.fetchall())
        else:
            for statement, params in steps:
                cursor.execute(statement, list(params) or None)
                results.append(cursor.fetchall())
    return results


def is_connection_error(exc: BaseException) -> bool:
    """True when the error means the connection is lost or unusable (not a refused statement)."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, MySQLError):
        return False
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    # Codes 2000 and up are the client's own: no server, lost connection, bad packets.
    return code is None or code >= 2000 or code in _GONE_CODES


def is_in_step(exc: BaseException) -> bool:
    """True when the server refused a statement and the connection is still usable."""
    return isinstance(exc, MySQLError) and not is_connection_error(exc)


@contextmanager
def translate(where: str, action: str) -> Iterator[None]:
    """Driver errors become StoreUnavailable (connection lost, server down), SchemaMissing (no
    such table or column) or StoreError."""
    try:
        yield
    except MySQLError as exc:
        code = exc.args[0] if exc.args else None
        kind = (
            StoreUnavailable
            if is_connection_error(exc)
            else SchemaMissing
            if code in _SCHEMA_MISSING_CODES
            else StoreError
        )
        raise kind(f"MySQL at {where}: {action} failed: {exc}") from exc
