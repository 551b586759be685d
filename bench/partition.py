"""Measure what a real silent network partition does to PostgresStore and MySQLStore with
their default timeouts: packets dropped, nothing reset.

    sudo python -m bench.partition postgres|mysql [--bare]

The store runs in a child process inside a network namespace of its own, and reaches the
server through a forwarder in this process whose client-side sockets live in that namespace.
Taking the namespace's loopback down then drops every packet of the store's connections, in
both directions, with no reset, and touches nothing outside it; bringing it up is the network
returning. (tests/fault/tcp_proxy.py can't play this: its own kernel acknowledges what clients
send, so TCP keepalives and tcp_user_timeout never fire there.)

Prints how long an enqueue on a pooled connection, then stats(), take to raise
StoreUnavailable; how soon enqueue works once the network is back; and when an idle worker
reports the outage and runs a job enqueued after it. `--bare` turns the TCP settings off and
read_timeout up, as the stores were before they had them. Needs root (a network namespace)
and iproute2's `ip`. Creates a schema or two tables named measure_<pid>, dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pymysql

import proletarian
from proletarian import QueueWorker
from proletarian.adapters.mysql import MySQLStore
from proletarian.adapters.postgres import PostgresStore
from proletarian.ports.store import QueueStore
from proletarian.testing import CapturingLog

SERVERS = {"postgres": ("127.0.0.1", 5432), "mysql": ("127.0.0.1", 3306)}
CLONE_NEWNET = 0x40000000
GUARD = 90.0  # seconds before a call still blocked is reported as such
PARTITION = 40.0  # seconds the worker's network stays down
TAG = f"measure_{os.getpid()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(SERVERS))
    parser.add_argument("--bare", action="store_true", help="no TCP settings, no read bound")
    args = parser.parse_args()
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:
        ours.close()
        os._exit(in_namespace(theirs, args.kind, args.bare))
    theirs.close()
    _, fds, _, _ = socket.recv_fds(ours, 16, 1)
    listener = socket.socket(fileno=fds[0])
    threading.Thread(target=forward, args=(listener, SERVERS[args.kind]), daemon=True).start()
    os.waitpid(child, 0)
    drop_tables(args.kind)


def in_namespace(parent: socket.socket, kind: str, bare: bool) -> int:
    """In a new network namespace: listen on its loopback, hand the listener to the parent
    to forward, and measure through it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed: run as root")
    network("up")
    listener = socket.create_server(("127.0.0.1", 0))
    socket.send_fds(parent, [b"listener"], [listener.fileno()])
    port = listener.getsockname()[1]
    measure_producer(open_store(kind, port, bare), f"{kind}{' --bare' if bare else ''}")
    measure_worker(open_store(kind, port, bare), kind)
    return 0


def open_store(kind: str, port: int, bare: bool) -> PostgresStore | MySQLStore:
    store: PostgresStore | MySQLStore
    if kind == "postgres":
        off = " keepalives=0 tcp_user_timeout=0" if bare else ""
        store = PostgresStore.connect(
            f"host=127.0.0.1 port={port} dbname=test user=postgres{off}",
            schema=TAG,
            read_timeout=None if bare else 30.0,
        )
    else:
        off = "?keepalives=0&tcp_user_timeout=0&read_timeout=100000" if bare else ""
        store = MySQLStore.connect(
            f"mysql://root@127.0.0.1:{port}/test{off}",
            job_table=f"{TAG}_job",
            archived_job_table=f"{TAG}_archived_job",
        )
    store.install_schema()
    return store


def measure_producer(store: QueueStore, label: str) -> None:
    proletarian.enqueue(store, "t", None)  # an open, idle connection in the pool
    network("down")
    timed(f"{label}: enqueue on a pooled connection", lambda: proletarian.enqueue(store, "t", 1))
    timed(f"{label}: stats() next", store.stats)
    network("up")
    print(f"{label}: enqueue works {enqueued_again(store):.1f} s after the network returned")


def measure_worker(store: QueueStore, label: str) -> None:
    ran = threading.Event()
    log = CapturingLog()
    worker = QueueWorker(store, lambda job_type, payload: ran.set(), threads=2, log=log)
    with worker:
        assert worker.wait_idle(30)
        network("down")
        down = time.monotonic()
        while not log.of("store_unavailable") and time.monotonic() - down < GUARD:
            time.sleep(0.1)
        print(
            f"{label}: the idle worker reported store_unavailable after "
            f"{time.monotonic() - down:.1f} s"
        )
        time.sleep(max(0.0, PARTITION - (time.monotonic() - down)))
        network("up")
        back = time.monotonic()
        enqueued_again(store)
        ran.wait(GUARD)
        print(
            f"{label}: after a {PARTITION:g} s partition, a job enqueued once the network "
            f"returned ran {time.monotonic() - back:.1f} s after its return"
        )


def timed(what: str, call: Callable[[], Any]) -> None:
    outcome: list[str] = []

    def run() -> None:
        start = time.monotonic()
        try:
            call()
            outcome.append(f"returned after {time.monotonic() - start:.1f} s")
        except Exception as exc:
            outcome.append(f"{type(exc).__name__} after {time.monotonic() - start:.1f} s: {exc}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(GUARD)
    print(f"{what}: {outcome[0] if outcome else f'still blocked after {GUARD:g} s'}", flush=True)


def enqueued_again(store: QueueStore) -> float:
    """Seconds until an enqueue works."""
    start = time.monotonic()
    while True:
        try:
            proletarian.enqueue(store, "t", None)
            return time.monotonic() - start
        except proletarian.StoreUnavailable:
            time.sleep(0.1)


def network(state: str) -> None:
    subprocess.run(["ip", "link", "set", "lo", state], check=True)


def forward(listener: socket.socket, server: tuple[str, int]) -> None:
    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection(server)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(source, sink), daemon=True).start()


def pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def drop_tables(kind: str) -> None:
    if kind == "postgres":
        with psycopg.connect("postgresql://postgres@127.0.0.1/test", autocommit=True) as pg:
            pg.execute(f"DROP SCHEMA IF EXISTS {TAG} CASCADE")
        return
    mysql = pymysql.connect(host="127.0.0.1", user="root", database="test")
    with mysql.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TAG}_job, {TAG}_archived_job")
    mysql.close()


if __name__ == "__main__":
    main()
