"""TenantMiddleware on real PostgreSQL: each tenant's handler writes land in the tenant's schema,
unknown tenants fail explicitly, and the search_path never outlives the job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from psycopg import sql

import proletarian
from proletarian import ConfigurationError, Job, JobContext, JobStatus, QueueWorker
from proletarian.adapters.memory import MemoryStore
from proletarian.adapters.postgres import PostgresStore
from proletarian.adapters.sqlite import SQLiteStore
from proletarian.integrations.tenants import TenantError, TenantMiddleware, UnknownTenant
from proletarian.ports.store import Claim, QueueStore
from tests.fixtures.integrations import PG_SCHEMA, PG_URL, pg_admin, pg_reset, postgres_store

ACME = f"{PG_SCHEMA}_acme"
GLOBEX = f"{PG_SCHEMA}_globex"
MISSING = f"{PG_SCHEMA}_missing"
SCHEMAS = {"acme": ACME, "globex": GLOBEX, "ghost": MISSING}


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    """A store whose pool holds ONE connection, so consecutive jobs share it (a leaked
    search_path would show), and two tenant schemas, each with a `note` table and a decoy
    `job` table named like the store's (the store's statements must never land there)."""
    with postgres_store(min_size=1, max_size=1) as store:
        with pg_admin() as conn:
            for schema in (ACME, GLOBEX):
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                for table in ("note", "job"):
                    conn.execute(
                        sql.SQL("CREATE TABLE {} (text text)").format(sql.Identifier(schema, table))
                    )
        try:
            yield store
        finally:
            pg_reset(ACME, GLOBEX)


def rows(schema: str, table: str = "note") -> list[str]:
    with pg_admin() as conn:
        query = sql.SQL("SELECT text FROM {} ORDER BY 1").format(sql.Identifier(schema, table))
        return [row[0] for row in conn.execute(query).fetchall()]


def default_search_path() -> str:
    with psycopg.connect(PG_URL) as conn:
        row = conn.execute("SHOW search_path").fetchone()
    assert row is not None
    return str(row[0])


class Recorder:
    """An advanced handler: notes its payload through ctx.connection (unqualified table name)
    and records the search_path it ran with; payload "fail" raises after writing."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, job: Job, ctx: JobContext) -> None:
        conn = ctx.connection
        assert isinstance(conn, psycopg.Connection)
        row = conn.execute("SHOW search_path").fetchone()
        assert row is not None
        self.seen.append((str(job.payload), str(row[0])))
        if job.meta.get("tenant") is not None:
            conn.execute("INSERT INTO note (text) VALUES (%s)", (str(job.payload),))
        if job.payload == "fail":
            raise RuntimeError("handler failed after writing")


def worker(store: QueueStore, handler: Any, middleware: TenantMiddleware) -> QueueWorker:
    return QueueWorker(store, handler, handler_mode="advanced", middleware=[middleware])


def test_handler_writes_land_in_the_tenants_schema(store: PostgresStore) -> None:
    """Each tenant's job writes through ctx.connection into that tenant's schema only, and
    the store's own rows stay in the store's tables."""
    first = proletarian.enqueue(store, "note", "for acme", meta={"tenant": "acme"})
    second = proletarian.enqueue(store, "note", "for globex", meta={"tenant": "globex"})
    handler = Recorder()
    assert worker(store, handler, TenantMiddleware(SCHEMAS)).drain() == 2
    assert rows(ACME) == ["for acme"]
    assert rows(GLOBEX) == ["for globex"]
    assert [path for _, path in handler.seen] == [f'"{ACME}"', f'"{GLOBEX}"']
    for job_id in (first, second):
        job = store.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.SUCCEEDED
    assert rows(ACME, "job") == rows(GLOBEX, "job") == []


def test_the_search_path_does_not_outlive_the_job(store: PostgresStore) -> None:
    """After a tenant's job (succeeded or failed), the next job on the same pooled connection
    runs with the default search_path: SET LOCAL ends with the claim's transaction."""
    proletarian.enqueue(store, "note", "ok", meta={"tenant": "acme"})
    proletarian.enqueue(store, "note", "after success")
    proletarian.enqueue(store, "note", "fail", meta={"tenant": "globex"})
    proletarian.enqueue(store, "note", "after failure")
    handler = Recorder()
    assert worker(store, handler, TenantMiddleware(SCHEMAS)).drain() == 4
    default = default_search_path()
    assert handler.seen == [
        ("ok", f'"{ACME}"'),
        ("after success", default),
        ("fail", f'"{GLOBEX}"'),
        ("after failure", default),
    ]


def test_a_failing_handler_rolls_back_its_tenant_writes(store: PostgresStore) -> None:
    """A tenant handler that raises after writing leaves no row in the tenant's schema, and
    the job is archived failed with the handler's error in the store's own table."""
    job_id = proletarian.enqueue(store, "note", "fail", meta={"tenant": "acme"})
    assert worker(store, Recorder(), TenantMiddleware(SCHEMAS)).drain() == 1
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.message == "handler failed after writing"
    assert rows(ACME) == []
    assert rows(ACME, "job") == []


def test_unknown_tenant_fails_the_job_without_running_it(store: PostgresStore) -> None:
    """A tenant with no schema, or whose schema does not exist, fails the job with
    UnknownTenant, and the handler never runs."""
    nobody = proletarian.enqueue(store, "note", "x", meta={"tenant": "initech"})
    ghost = proletarian.enqueue(store, "note", "y", meta={"tenant": "ghost"})
    handler = Recorder()
    assert worker(store, handler, TenantMiddleware(SCHEMAS)).drain() == 2
    assert handler.seen == []
    reasons = []
    for job_id in (nobody, ghost):
        job = store.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.FAILED
        assert job.error is not None
        assert job.error.type == "UnknownTenant"
        reasons.append(job.error.message)
    assert reasons == [
        "tenant 'initech' has no schema; the job was not run",
        f"schema '{MISSING}' of tenant 'ghost' does not exist; the job was not run",
    ]


def test_jobs_without_the_meta_key_pass_through(store: PostgresStore) -> None:
    """A job with no tenant key runs unchanged, on the default search_path; another meta key
    can be chosen."""
    proletarian.enqueue(store, "note", "plain", meta={"tenant_id": "acme"})
    proletarian.enqueue(store, "note", "keyed", meta={"org": "globex"})
    handler = Recorder()
    middleware = TenantMiddleware(SCHEMAS.get, meta_key="org")
    assert worker(store, handler, middleware).drain() == 2
    assert handler.seen == [("plain", default_search_path()), ("keyed", f'"{GLOBEX}"')]


def test_a_lookup_giving_a_bad_schema_name_fails_the_job(store: PostgresStore) -> None:
    """A lookup function's answer is validated per job: a name that is not an identifier
    fails the job with ConfigurationError; nothing is formatted into SQL."""
    job_id = proletarian.enqueue(store, "note", "x", meta={"tenant": "acme"})
    middleware = TenantMiddleware(lambda tenant: "acme; DROP TABLE note")
    assert worker(store, Recorder(), middleware).drain() == 1
    job = store.get_job(job_id)
    assert job is not None
    assert job.error is not None
    assert job.error.type == "ConfigurationError"


class SavepointClaim:
    """Stands in for a transactional claim over a connection of the test's own, in an open
    transaction with a savepoint, so the test can end the savepoint as the store would."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.connection = conn


def test_set_local_follows_the_handler_savepoint() -> None:
    """The middleware's SET LOCAL is undone by a rollback to the handler's savepoint (handler
    failed), kept by its release until commit (handler succeeded), and gone after commit."""
    with postgres_store(), pg_admin() as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(ACME)))
        try:
            with psycopg.connect(PG_URL) as conn:
                default = str(_show(conn))
                middleware = TenantMiddleware({"acme": ACME})
                job = Job(
                    id="1",
                    queue="q",
                    job_type="t",
                    payload=None,
                    meta={"tenant": "acme"},
                    enqueued_at=datetime.now(UTC),
                    process_at=datetime.now(UTC),
                )
                ctx = JobContext(
                    claim=cast(Claim, SavepointClaim(conn)),
                    stopping=threading.Event(),
                    worker_id="w",
                )

                def fail(job: Job, ctx: JobContext) -> None:
                    assert _show(conn) == f'"{ACME}"'
                    raise RuntimeError("handler failed")

                conn.execute("SAVEPOINT handler")
                with pytest.raises(RuntimeError):
                    middleware(job, ctx, fail)
                conn.execute("ROLLBACK TO SAVEPOINT handler; RELEASE SAVEPOINT handler")
                assert _show(conn) == default

                conn.execute("SAVEPOINT handler")
                middleware(job, ctx, lambda job, ctx: None)
                conn.execute("RELEASE SAVEPOINT handler")
                assert _show(conn) == f'"{ACME}"'
                conn.commit()
                assert _show(conn) == default
        finally:
            pg_reset(ACME)


def _show(conn: psycopg.Connection[Any]) -> object:
    row = conn.execute("SHOW search_path").fetchone()
    assert row is not None
    return row[0]


def test_stores_without_a_postgresql_connection_fail_the_job(tmp_path: Path) -> None:
    """On a store whose ctx.connection is None (memory) or not PostgreSQL (SQLite), a tenant's
    job fails with TenantError: it never runs outside its schema."""
    sqlite = SQLiteStore(tmp_path / "jobs.db")
    try:
        for store, kind in ((MemoryStore(), "no connection"), (sqlite, "a sqlite3 connection")):
            job_id = proletarian.enqueue(store, "note", "x", meta={"tenant": "acme"})
            handler = Recorder()
            assert worker(store, handler, TenantMiddleware(SCHEMAS)).drain() == 1
            assert handler.seen == []
            job = store.get_job(job_id)
            assert job is not None
            assert job.status is JobStatus.FAILED
            assert job.error is not None
            assert job.error.type == "TenantError"
            assert kind in job.error.message
            assert "PostgresStore only" in job.error.message
    finally:
        sqlite.close()


def test_bad_configuration_is_refused_at_construction() -> None:
    """Schema names in a mapping are validated when the middleware is built."""
    with pytest.raises(ConfigurationError, match="not a valid identifier"):
        TenantMiddleware({"acme": "acme; DROP SCHEMA public"})
    with pytest.raises(ConfigurationError, match="must not contain a dot"):
        TenantMiddleware({"acme": "a.b"})
    with pytest.raises(ConfigurationError, match="meta_key"):
        TenantMiddleware({}, meta_key="")
    with pytest.raises(ConfigurationError, match="mapping of tenant to schema"):
        TenantMiddleware(42)  # type: ignore[arg-type]
    assert issubclass(UnknownTenant, TenantError)
    assert issubclass(TenantError, proletarian.ProletarianError)
    assert TenantMiddleware({"acme": "tenant_acme"}).schema_for("acme") == "tenant_acme"
    with pytest.raises(UnknownTenant):
        TenantMiddleware({}).schema_for("acme")
