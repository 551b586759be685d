"""The PostgreSQL store, on psycopg 3 and psycopg_pool.

Transactional claims (FOR UPDATE SKIP LOCKED, the handler runs inside the claim's transaction)
or, with `lease=`, leased claims for long jobs; enqueue that joins the caller's transaction
(the outbox), and LISTEN/NOTIFY wake-ups. The DDL is database/postgresql/tables.sql, shipped as
proletarian/schema/postgresql.sql.
"""

try:
    import psycopg  # noqa: F401
    import psycopg_pool  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("PostgresStore needs psycopg: pip install 'proletarian[postgres]'") from exc

from proletarian.adapters.postgres.claim import PostgresClaim
from proletarian.adapters.postgres.leased import PostgresLeasedClaim
from proletarian.adapters.postgres.listener import PostgresListener
from proletarian.adapters.postgres.network import with_network_defaults
from proletarian.adapters.postgres.store import PostgresStore

__all__ = [
    "PostgresClaim",
    "PostgresLeasedClaim",
    "PostgresListener",
    "PostgresStore",
    "with_network_defaults",
]
