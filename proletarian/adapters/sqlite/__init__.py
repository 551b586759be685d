"""The SQLite store: a durable job queue in one file, with no server, for the threads and
processes of one machine. Claims are leases (see DESIGN.md, "Two ways to hold a claim").

    from proletarian.adapters.sqlite import SQLiteStore
    store = SQLiteStore("jobs.db")

Needs Python's sqlite3 module with SQLite 3.35 or newer (for UPDATE ... RETURNING).
"""

try:
    import sqlite3
except ImportError as exc:  # some Python builds leave out _sqlite3
    raise ImportError(
        "SQLiteStore needs the sqlite3 module, which this Python was built without"
    ) from exc

if sqlite3.sqlite_version_info < (3, 35, 0):
    raise ImportError(
        f"SQLiteStore needs SQLite 3.35 or newer (UPDATE ... RETURNING); this Python's sqlite3 "
        f"uses {sqlite3.sqlite_version}"
    )

from proletarian.adapters.sqlite.store import SQLiteClaim, SQLiteStore

__all__ = ["SQLiteClaim", "SQLiteStore"]
