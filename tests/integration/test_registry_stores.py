"""The operators' tables on the SQL stores: install_schema adds them to an installation made
before them, and a registry the worker can't write never stops it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import proletarian
from proletarian import QueueWorker
from proletarian.adapters.sqlite import SQLiteStore
from proletarian.testing import CapturingLog, ManualClock
from tests.fixtures import mysql, postgres


def test_sqlite_adds_the_registry_to_tables_made_before_it(tmp_path: Path) -> None:
    """A file whose tables predate the registry gets its table on the registry's first use,
    and the archive's status index from install_schema."""
    path = tmp_path / "old.db"
    SQLiteStore(path).install_schema()
    with sqlite3.connect(path) as conn:
        conn.execute('DROP TABLE "job_worker"')
        conn.execute('DROP INDEX "archived_job_status"')
    store = SQLiteStore(path)
    try:
        assert store.workers() == []
        store.install_schema()
        with sqlite3.connect(path) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"job_worker", "archived_job_status"} <= names
    finally:
        store.close()


def test_postgres_install_schema_adds_the_registry_and_index(tmp_path: Path) -> None:
    """install_schema on tables made before the registry adds its table and the archive's
    status index."""
    with postgres.open_store(ManualClock(), tmp_path) as store:
        schema = store.names.job[0]
        with postgres.admin() as conn:
            conn.execute(f'DROP TABLE "{schema}".job_worker')
            conn.execute(f'DROP INDEX "{schema}".archived_job_status_idx')
        store.install_schema()
        assert store.workers() == []
        with postgres.admin() as conn:
            found = conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,)
            ).fetchall()
        assert ("archived_job_status_idx",) in found


def test_mysql_install_schema_adds_the_registry_and_index(tmp_path: Path) -> None:
    """MySQL has no CREATE INDEX IF NOT EXISTS: install_schema adds the status index to an
    archive made without it, and the registry's table."""
    with mysql.open_store(ManualClock(), tmp_path) as store:
        mysql.execute(f"DROP TABLE `{mysql.JOB_TABLE}_worker`")
        mysql.execute(f"ALTER TABLE `{mysql.ARCHIVED_JOB_TABLE}` DROP KEY status_id")
        store.install_schema()
        store.install_schema()
        assert store.workers() == []
        found = mysql.execute(
            "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
            "AND table_name = %s AND index_name = 'status_id'",
            mysql.ARCHIVED_JOB_TABLE,
        )
        assert found[0][0] == 2  # one row per column of the index


def test_a_worker_whose_registry_fails_still_runs_jobs(tmp_path: Path) -> None:
    """With the registry's table gone (a real store error on every registry call), the
    worker reports `worker_heartbeat_failed` and runs its jobs as ever."""
    with postgres.open_store(ManualClock(), tmp_path) as store:
        with postgres.admin() as conn:
            conn.execute(f'DROP TABLE "{store.names.job[0]}".job_worker')
        job_id = proletarian.enqueue(store, "t", None)
        log = CapturingLog()
        with QueueWorker(store, lambda t, p: None, log=log) as worker:
            assert worker.wait_idle(timeout=30)
        job = store.get_job(job_id)
        assert job is not None
        assert job.status is proletarian.JobStatus.SUCCEEDED
        failures = [d["during"] for d in log.of("worker_heartbeat_failed")]
        assert failures == ["register", "remove_dead_workers", "unregister"]
