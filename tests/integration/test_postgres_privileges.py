"""database/postgresql/privileges.sql gives a role exactly what PostgresStore needs: a worker
and a producer run under it (outbox enqueue, retries, failures, LISTEN wake-ups, inspection and
operations), while DDL, TRUNCATE and other tables are refused."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo

import proletarian
from proletarian import Job, JobContext, JobStatus, NewJob, QueueWorker, RetryPolicy, StoreError
from proletarian.adapters.ids import DatabaseIds
from proletarian.adapters.postgres import PostgresStore
from proletarian.testing import CapturingLog
from tests.fault.soak import until
from tests.fixtures.servers import POSTGRES_URL, require

ROOT = Path(__file__).resolve().parents[2]
PRIVILEGES = ROOT / "database" / "postgresql" / "privileges.sql"
ROLE = f"proletarian_worker_test_{os.getpid()}"
SCHEMA = f"proletarian_priv_{os.getpid()}"


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(POSTGRES_URL, autocommit=True)


def grants(schema: str, role: str) -> list[str]:
    """privileges.sql's statements with the schema and role put in, comments left out."""
    text = "\n".join(
        line for line in PRIVILEGES.read_text().splitlines() if not line.startswith("--")
    )
    text = re.sub(r"\bproletarian_worker\b", role, text)
    text = re.sub(r"\bproletarian\b(?=\.|\s+TO\b)", schema, text)
    statements = [s.strip() for s in text.split(";") if s.strip()]
    assert all(s.startswith("GRANT ") for s in statements), statements
    assert "proletarian" not in text.replace(role, "").replace(schema, "")
    return statements


def drop_all() -> None:
    with admin() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (ROLE,)
        )
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
        if exists:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(ROLE)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(ROLE)))


@pytest.fixture
def restricted_url() -> Iterator[str]:
    """The URL of a fresh LOGIN role holding only privileges.sql's grants on a schema the
    superuser installed (trust authentication on 127.0.0.1 lets any role in)."""
    require("postgres")
    drop_all()
    with admin() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(ROLE)))
    try:
        yield make_conninfo(POSTGRES_URL, user=ROLE)
    finally:
        drop_all()


def install_as_superuser(**options: Any) -> None:
    owner = PostgresStore.connect(POSTGRES_URL, schema=SCHEMA, **options)
    try:
        owner.install_schema()
    finally:
        owner.close()
    with admin() as conn:
        for statement in grants(SCHEMA, ROLE):
            conn.execute(statement)


def handle(job: Job, ctx: JobContext) -> None:
    if job.payload["fail"]:
        raise RuntimeError("fails on purpose")


def test_worker_and_producer_run_under_the_least_privilege_role(restricted_url: str) -> None:
    """Under the role: outbox and plain enqueue, a worker woken by LISTEN that retries and
    fails jobs, get_job, stats, cancel, retry_failed and prune_archive all work."""
    install_as_superuser()
    store = PostgresStore.connect(restricted_url, schema=SCHEMA)
    log = CapturingLog()
    try:
        with psycopg.connect(restricted_url) as conn:
            ok = proletarian.enqueue(store, "t", {"fail": False}, conn=conn)
        bad, cancelled = proletarian.enqueue_many(
            store,
            [
                NewJob(job_type="t", payload={"fail": True}),
                NewJob(job_type="t", payload={"fail": False}, process_in=timedelta(hours=1)),
            ],
        )
        assert store.cancel(cancelled)
        worker = QueueWorker(
            store,
            handle,
            handler_mode="advanced",
            retry=RetryPolicy(retries=1),
            polling_interval=timedelta(hours=1),  # only LISTEN wakes it
            log=log,
        )
        with worker:
            until(lambda: len(log.of("job_failed")) == 1, "the failing job to fail", timeout=30)
            until(lambda: len(log.of("job_succeeded")) == 1, "the good job", timeout=30)
            assert store.retry_failed(bad)
            until(lambda: len(log.of("job_failed")) == 2, "the retried job to fail", timeout=30)
        assert not log.of("store_unavailable")
        done = store.get_job(ok)
        failed = store.get_job(bad)
        assert done is not None
        assert failed is not None
        assert (done.status, failed.status) == (JobStatus.SUCCEEDED, JobStatus.FAILED)
        assert store.stats()["default"].failed == 1
        assert store.prune_archive(timedelta(0)) == 2
    finally:
        store.close()


def test_database_ids_need_no_more_than_the_same_grants(restricted_url: str) -> None:
    """With the bigint identity tables (DatabaseIds), enqueue and work need no sequence grant."""
    install_as_superuser(job_ids=DatabaseIds())
    store = PostgresStore.connect(restricted_url, schema=SCHEMA, job_ids=DatabaseIds())
    try:
        job_id = proletarian.enqueue(store, "t", {"fail": False})
        assert QueueWorker(store, handle, handler_mode="advanced").drain() == 1
        job = store.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.SUCCEEDED
    finally:
        store.close()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE {schema}.evil (x int)",
        "CREATE SCHEMA proletarian_evil",
        "ALTER TABLE {schema}.job ADD COLUMN evil int",
        "DROP TABLE {schema}.archived_job",
        "CREATE INDEX evil ON {schema}.job (queue)",
        "TRUNCATE {schema}.job",
        "CREATE TRIGGER evil BEFORE INSERT ON {schema}.job FOR EACH ROW EXECUTE FUNCTION now()",
    ],
)
def test_the_role_is_refused_ddl(restricted_url: str, statement: str) -> None:
    """DDL and TRUNCATE are refused for the role, so are install_schema() and other tables."""
    install_as_superuser()
    with psycopg.connect(restricted_url, autocommit=True) as conn:
        with pytest.raises((errors.InsufficientPrivilege, errors.WrongObjectType)):
            conn.execute(statement.format(schema=SCHEMA))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM pg_authid")
    store = PostgresStore.connect(restricted_url, schema=SCHEMA)
    try:
        with pytest.raises(StoreError, match=r"permission denied|must be owner"):
            store.install_schema()
    finally:
        store.close()
