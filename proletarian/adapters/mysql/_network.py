"""How long MySQLStore waits on the network: defaults for PyMySQL's timeouts, and the TCP
settings PyMySQL doesn't make (keepalive timing, a user timeout), on the sockets of the
connections the store makes from connection arguments.

Without them a silent network partition (packets dropped, nothing reset) blocks a producer
for as long as it lasts: PyMySQL reads with no timeout by default, its keepalives start after
the system's two hours, and a server or proxy that accepts the connection but never speaks
holds it forever (connect_timeout covers only the TCP connect).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

import pymysql
from pymysql.connections import Connection
from pymysql.constants import CR
from pymysql.err import OperationalError

from proletarian.core.errors import ConfigurationError

# PyMySQL's own arguments, in seconds, where the caller's arguments (or URL) don't set them.
DRIVER_DEFAULTS: dict[str, float] = {
    # To open the TCP connection and receive the server's greeting.
    "connect_timeout": 5.0,
    # For each read: a reply that doesn't come (or stalls) this long fails the statement and
    # closes the connection. It applies to a handler's statements on ctx.connection too, so
    # it is above InnoDB's default innodb_lock_wait_timeout (50 s): a statement waiting for
    # a row lock gets the server's lock wait timeout first. A handler that idles (or works)
    # between statements is never cut: the timeout counts only while a read waits.
    "read_timeout": 60.0,
    # For each write of a statement to the socket (it only waits when the kernel's buffer is
    # full: large payloads into a stalled network).
    "write_timeout": 60.0,
}
# TCP settings, named and counted as libpq's (and PostgresStore's): a connection that has
# received nothing for 10 s is probed every 5 s; on Linux it is dropped 15 s after its last
# reply (tcp_user_timeout, milliseconds, which also bounds a statement written into a dead
# link), elsewhere after 3 unanswered probes. Every peer's kernel answers a probe however long
# its statement runs, so these end only waits on an unreachable peer. keepalives=0 sends none.
TCP_DEFAULTS: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15000,
}
_KEEPALIVE_OPTIONS = {
    "keepalives_idle": "TCP_KEEPIDLE",
    "keepalives_interval": "TCP_KEEPINTVL",
    "keepalives_count": "TCP_KEEPCNT",
}


def split(arguments: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """pymysql.connect arguments with DRIVER_DEFAULTS where `arguments` lack them, and the
    TCP settings, taken out of `arguments` (TCP_DEFAULTS where absent). ConfigurationError
    for a TCP setting that is not a whole number >= 0."""
    kwargs = dict(arguments)
    for name, value in DRIVER_DEFAULTS.items():
        kwargs.setdefault(name, value)
    tcp = {}
    for name, default in TCP_DEFAULTS.items():
        value = kwargs.pop(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"MySQL {name} must be a whole number >= 0, got {value!r}")
        tcp[name] = value
    return kwargs, tcp


def open_connection(kwargs: Mapping[str, Any], tcp: Mapping[str, int]) -> Connection:
    """pymysql.connect(**kwargs), over a TCP socket made here with `tcp`'s settings (a Unix
    socket connection is left to PyMySQL). Raises pymysql's OperationalError when the server
    can't be reached, or doesn't greet within connect_timeout."""
    if kwargs.get("unix_socket"):
        return pymysql.connect(**kwargs)
    conn = pymysql.connect(**{**kwargs, "defer_connect": True})
    conn.connect(_socket(conn, tcp))
    conn.host_info = f"socket {conn.host}:{conn.port}"  # as PyMySQL says of its own sockets
    return conn


def _socket(conn: Connection, tcp: Mapping[str, int]) -> socket.socket:
    timeout: float | None = conn.connect_timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    source = None if conn.bind_address is None else (conn.bind_address, 0)
    try:
        sock = socket.create_connection((conn.host, conn.port), timeout, source_address=source)
    except OSError as exc:
        raise OperationalError(
            CR.CR_CONN_HOST_ERROR, f"Can't connect to MySQL server on {conn.host!r} ({exc})"
        ) from exc
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _keep_alive(sock, tcp)
        # The server speaks first. Waiting for its greeting here bounds a server (or a proxy)
        # that accepted the connection but never answers by connect_timeout; PyMySQL would
        # wait for it as long as read_timeout.
        sock.settimeout(None if deadline is None else max(deadline - time.monotonic(), 0.001))
        try:
            sock.recv(1, socket.MSG_PEEK)
        except TimeoutError:
            raise OperationalError(
                CR.CR_CONN_HOST_ERROR,
                f"Can't connect to MySQL server on {conn.host!r} (no greeting within "
                f"connect_timeout={timeout:g}s)",
            ) from None
        except OSError as exc:
            raise OperationalError(
                CR.CR_CONN_HOST_ERROR, f"Can't connect to MySQL server on {conn.host!r} ({exc})"
            ) from exc
    except BaseException:
        sock.close()
        raise
    return sock


def _keep_alive(sock: socket.socket, tcp: Mapping[str, int]) -> None:
    if tcp["keepalives"]:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, option in _KEEPALIVE_OPTIONS.items():
            # Each is missing on some systems; there the system's setting stays.
            if tcp[name] and hasattr(socket, option):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), tcp[name])
    if tcp["tcp_user_timeout"] and hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, tcp["tcp_user_timeout"])
