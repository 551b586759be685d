"""Enqueue jobs into a SQLite file, one of them in the caller's own transaction, and work them
off with a background worker.

    python examples/basic.py [path/to/jobs.db]

Without a path it uses a fresh file in a temporary directory.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

import proletarian
from proletarian import Priority, QueueWorker
from proletarian.adapters.sqlite import SQLiteStore


def handle_job(job_type: str, payload: Any) -> None:
    if job_type == "greet":
        print(f"hello, {payload['name']}")
    elif job_type == "add":
        print(f"{payload['a']} + {payload['b']} = {payload['a'] + payload['b']}")
    else:
        raise ValueError(f"no handler for job type {job_type!r}")


def sign_up(path: Path, store: SQLiteStore, name: str, *, fail: bool = False) -> None:
    """The outbox: the user row and its job commit together, or neither does."""
    conn = sqlite3.connect(path)
    try:
        with conn:  # commits when the block ends, rolls back if it raises
            conn.execute("CREATE TABLE IF NOT EXISTS user (name TEXT PRIMARY KEY)")
            conn.execute("INSERT INTO user (name) VALUES (?)", [name])
            proletarian.enqueue(store, "greet", {"name": name}, conn=conn)
            if fail:
                raise RuntimeError("payment declined")
    except RuntimeError as exc:
        print(f"sign-up of {name} rolled back ({exc}): no user, no job")
    finally:
        conn.close()


def main(path: Path) -> None:
    store = SQLiteStore(path)  # creates the tables on first use
    proletarian.enqueue(store, "add", {"a": 2, "b": 3})
    proletarian.enqueue(store, "greet", {"name": "Grace"}, priority=Priority.HIGH)
    sign_up(path, store, "Ada")
    sign_up(path, store, "Mallory", fail=True)

    # One thread, so the output order follows priority, then enqueue order.
    with QueueWorker(store, handle_job, threads=1) as worker:
        worker.wait_idle(timeout=10)

    stats = store.stats()["default"]
    print(f"succeeded {stats.succeeded}, failed {stats.failed}, waiting {stats.ready}")
    store.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as directory:
            main(Path(directory) / "jobs.db")
