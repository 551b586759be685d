"""Driver exceptions become proletarian's at this boundary, with the original as the cause."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import PoolClosed

from proletarian.core.errors import SchemaMissing, StoreError, StoreUnavailable

# The store's own statements meet these when its tables, or a column a later release added,
# are not there: install_schema() creates them.
_SCHEMA_MISSING = (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn)


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Lost connections, servers down and pool timeouts raise StoreUnavailable (worth retrying);
    missing tables or columns SchemaMissing; a closed store and every other driver error
    StoreError."""
    try:
        yield
    except PoolClosed as exc:
        raise StoreError(f"PostgresStore is closed ({action})") from exc
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable during {action}: {_text(exc)}") from exc
    except _SCHEMA_MISSING as exc:
        raise SchemaMissing(f"PostgreSQL {action} failed: {_text(exc)}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"PostgreSQL {action} failed: {_text(exc)}") from exc


def _text(exc: psycopg.Error) -> str:
    # The server's message is enough; psycopg may append context lines.
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
