"""Enqueue inside Django's `transaction.atomic()`: the job commits or rolls back with the block.

    from django.db import transaction
    from proletarian.integrations.django import enqueue

    with transaction.atomic():
        Account.objects.create(email=email)
        enqueue(store, "send-welcome", {"email": email})

The job is written on the driver connection under Django's own (`connections[using]`), so it
joins the open transaction: an exception that leaves the block (or `set_rollback(True)`) drops
the job with the block's writes, and a nested `atomic()` that rolls back to its savepoint drops
the jobs enqueued inside it. The store must drive the same kind of connection Django uses:
`PostgresStore` for the `postgresql` backend on psycopg 3 (Django 4.2+ uses psycopg 3 when it
is installed; a psycopg2 connection is refused), `MySQLStore` for the `mysql` backend on
PyMySQL (installed as MySQLdb with `pymysql.install_as_MySQLdb()` before Django loads the
backend). Django's connections belong to one thread each: call these helpers on the thread
that runs the `atomic()` block.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

try:
    from django.db import DEFAULT_DB_ALIAS, connections
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "proletarian.integrations.django needs Django: pip install 'proletarian[django]'"
    ) from exc

from proletarian.core.errors import ProletarianError
from proletarian.core.job import JobId, NewJob
from proletarian.enqueue import JobOptions
from proletarian.enqueue import enqueue as enqueue_on
from proletarian.enqueue import enqueue_many as enqueue_many_on
from proletarian.ports.store import QueueStore

__all__ = ["NotInTransaction", "connection_for", "enqueue", "enqueue_many"]


class NotInTransaction(ProletarianError):
    """Enqueue through Django's connection was asked for outside `transaction.atomic()`, where
    Django autocommits: the job would commit on its own, apart from the request's writes."""


def connection_for(using: str = DEFAULT_DB_ALIAS) -> Any:
    """The driver connection (psycopg `Connection`, PyMySQL `Connection`, ...) under Django's
    connection `using`, for `proletarian.enqueue(..., conn=...)`.

    Raises NotInTransaction outside `transaction.atomic()`, and Django's
    TransactionManagementError when the atomic block is already marked for rollback (a query
    in it failed): a job written there could never commit.

    Args:
        using: The alias of the Django database, as in `DATABASES`.
    """
    wrapper = connections[using]
    if not wrapper.in_atomic_block:
        raise NotInTransaction(
            f"enqueue on Django's {using!r} connection must run inside transaction.atomic(); "
            "outside it Django autocommits and the job would not share the transaction. "
            "To enqueue on its own, call proletarian.enqueue(store, ...) without conn="
        )
    wrapper.validate_no_broken_transaction()
    wrapper.ensure_connection()
    return wrapper.connection


def enqueue(
    store: QueueStore,
    job_type: str,
    payload: Any,
    *,
    using: str = DEFAULT_DB_ALIAS,
    **options: Unpack[JobOptions],
) -> JobId:
    """`proletarian.enqueue` on Django's connection `using`, in the current atomic block.
    Returns the job id; the job exists only if the outermost block commits. Raises as
    `connection_for` does, and as `proletarian.enqueue`.

    Args:
        store: The store, over the same database as `using`.
        job_type: As for `proletarian.enqueue`.
        payload: As for `proletarian.enqueue`.
        using: The alias of the Django database whose atomic block the job joins.
        **options: The job's `queue`, `process_at`, `process_in`, `priority` and `meta`,
            as for `proletarian.enqueue` (see `JobOptions`).
    """
    return enqueue_on(store, job_type, payload, conn=connection_for(using), **options)


def enqueue_many(
    store: QueueStore, jobs: Iterable[NewJob], *, using: str = DEFAULT_DB_ALIAS
) -> list[JobId]:
    """`proletarian.enqueue_many` on Django's connection `using`, in the current atomic block.

    Args:
        store: The store, over the same database as `using`.
        jobs: The jobs, each a `NewJob`.
        using: The alias of the Django database whose atomic block the jobs join.
    """
    return enqueue_many_on(store, jobs, conn=connection_for(using))
