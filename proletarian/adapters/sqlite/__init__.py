"""The SQLite store: a durable job queue in one file, with no server, for the threads and
processes of one machine. Claims are leases (see DESIGN.md, "Two ways to hold a claim").

    from proletarian.adapters.sqlite import SQLiteStore
    store = SQLiteStore("jobs.db")
"""

# Imported first, so a Python built without sqlite3 fails here with a message that says so.
try:
    import sqlite3  # noqa: F401
except ImportError as exc:  # some Python builds leave out _sqlite3
    raise ImportError(
        "SQLiteStore needs the sqlite3 module, which this Python was built without"
    ) from exc

from proletarian.adapters.sqlite.claim import SQLiteClaim
from proletarian.adapters.sqlite.store import SQLiteStore

__all__ = ["SQLiteClaim", "SQLiteStore"]
