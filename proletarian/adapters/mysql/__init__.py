"""The MySQL / MariaDB store: jobs in InnoDB tables, claimed by transactions with
`FOR UPDATE SKIP LOCKED`, enqueued in the caller's transaction (see DESIGN.md).

    from proletarian.adapters.mysql import MySQLStore
    store = MySQLStore.connect("mysql://app:secret@db:3306/app")

Needs PyMySQL, and MySQL 8.0.1+ or MariaDB 10.6+.
"""

try:
    import pymysql  # noqa: F401
except ImportError as exc:
    raise ImportError("MySQLStore needs PyMySQL: pip install 'proletarian[mysql]'") from exc

from proletarian.adapters.mysql.claim import MySQLClaim
from proletarian.adapters.mysql.store import MySQLStore

__all__ = ["MySQLClaim", "MySQLStore"]
