"""The marks transactional claims leave on job rows (see statements.ABANDONED): counting the
abandoned claims they show, and clearing the mark of a claim given back alive."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from proletarian.adapters.postgres import statements
from proletarian.adapters.postgres.connections import autocommitted
from proletarian.adapters.postgres.network import Watchdog


def count_abandoned(
    conn: psycopg.Connection[Any], sql: statements.Statements, job_ids: Sequence[Any]
) -> None:
    """Count one abandonment for each of `job_ids`, locked by the open transaction on `conn`,
    and commit it: the count must outlast this claim, should the job kill this worker too."""
    conn.execute(sql.count_abandoned, {"job_ids": list(job_ids)})
    conn.execute(b"COMMIT")


def clear_marks(
    pool: ConnectionPool[Any],
    sql: statements.Statements,
    job_ids: Sequence[Any],
    watchdog: Watchdog,
) -> None:
    """After a rollback that gave `job_ids` back unrun, clear the marks it left, so their next
    claim does not count an abandonment. Driver errors are translated."""
    with autocommitted(pool, "abandon", watchdog) as conn:
        conn.execute(sql.clear_marks, {"job_ids": list(job_ids)})
