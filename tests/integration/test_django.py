"""Enqueue inside Django's transaction.atomic(), with real Django over psycopg 3 (PostgreSQL)
and over PyMySQL installed as MySQLdb (MariaDB)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest
from psycopg.conninfo import conninfo_to_dict

from proletarian import Job, JobContext, JobStatus, NewJob, QueueWorker
from proletarian.adapters.mysql import MySQLStore
from proletarian.adapters.postgres import PostgresStore
from proletarian.integrations.django import NotInTransaction, connection_for, enqueue, enqueue_many
from proletarian.worker.context import CallNext
from tests.fixtures.integrations import (
    APPLICATION,
    MYSQL_ACCOUNT_TABLE,
    PG_SCHEMA,
    mysql_rows,
    mysql_store,
    pg_rows,
    postgres_store,
)
from tests.fixtures.mysql import connect_kwargs
from tests.fixtures.servers import POSTGRES_URL

PG_ACCOUNT = f'"{PG_SCHEMA}".account'


def _settings() -> dict[str, Any]:
    pg = conninfo_to_dict(POSTGRES_URL)
    my = connect_kwargs()
    return {
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": pg.get("dbname", "test"),
                "USER": pg.get("user", "postgres"),
                "PASSWORD": pg.get("password", ""),
                "HOST": pg.get("host", "127.0.0.1"),
                "PORT": str(pg.get("port", 5432)),
                # Tagged, so the fixture's reset can end a connection a failed test left open.
                "OPTIONS": {"application_name": APPLICATION},
            },
            "mysql": {
                "ENGINE": "django.db.backends.mysql",
                "NAME": my["database"],
                "USER": my["user"],
                "PASSWORD": my.get("password", ""),
                "HOST": my["host"],
                "PORT": str(my["port"]),
            },
        },
        "INSTALLED_APPS": [],
        "USE_TZ": True,
    }


@pytest.fixture(scope="module", autouse=True)
def django_settings() -> Iterator[None]:
    """A minimal Django configured in this process (once: Django allows one configuration)."""
    import django
    from django.conf import settings
    from django.db import connections

    # Django's MySQL backend imports MySQLdb (mysqlclient); PyMySQL stands in for it.
    pymysql.install_as_MySQLdb()
    if not settings.configured:
        settings.configure(**_settings())
        django.setup()
    yield
    connections.close_all()


@pytest.fixture
def pg_store() -> Iterator[PostgresStore]:
    from django.db import connections

    with postgres_store() as store:
        yield store
        # Django reconnects on next use; the fixture's reset ends this connection anyway.
        connections.close_all()


def insert_account(email: str, using: str = "default") -> None:
    from django.db import connections

    table = PG_ACCOUNT if using == "default" else f"`{MYSQL_ACCOUNT_TABLE}`"
    with connections[using].cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (email) VALUES (%s)", [email])


class Rollback(Exception):
    """Raised at the end of a block to roll it back, as a failing view would."""


def in_atomic(
    body: Callable[[], list[str]], *, using: str = "default", fail: bool = False
) -> list[str]:
    """Run `body` in transaction.atomic(using) and return the job ids it enqueued; with
    `fail`, an exception leaves the block after the body (and is caught here)."""
    from django.db import transaction

    ids: list[str] = []
    try:
        with transaction.atomic(using=using):
            ids.extend(body())
            if fail:
                raise Rollback
    except Rollback:
        pass
    return ids


def pg_accounts() -> list[str]:
    return [row[0] for row in pg_rows(f"SELECT email FROM {PG_ACCOUNT} ORDER BY 1")]


def test_commit_keeps_the_job_and_an_exception_drops_it(pg_store: PostgresStore) -> None:
    """Inside atomic(), the job commits with the block's writes; an exception leaving the
    block rolls both back."""

    def sign_up(email: str) -> list[str]:
        insert_account(email)
        return [enqueue(pg_store, "welcome", {"email": email}, meta={"rid": "r"})]

    (kept,) = in_atomic(lambda: sign_up("kept@example.com"))
    (dropped,) = in_atomic(lambda: sign_up("dropped@example.com"), fail=True)

    assert pg_store.get_job(dropped) is None
    job = pg_store.get_job(kept)
    assert job is not None
    assert (job.payload, job.meta, job.status) == (
        {"email": "kept@example.com"},
        {"rid": "r"},
        JobStatus.READY,
    )
    assert pg_accounts() == ["kept@example.com"]


def test_the_job_is_invisible_until_the_block_commits(pg_store: PostgresStore) -> None:
    """Workers can't claim the job while the atomic block is open, and can once it commits."""
    from django.db import transaction

    with transaction.atomic():
        job_id = enqueue(pg_store, "t", 1)
        assert pg_store.claim(["default"], worker_id="w") is None
    seen: list[Any] = []
    with QueueWorker(pg_store, lambda job_type, payload: seen.append(payload)) as worker:
        assert worker.wait_idle(timeout=10)
    assert seen == [1]
    job = pg_store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED


def test_a_nested_block_rolled_back_drops_only_its_jobs(pg_store: PostgresStore) -> None:
    """A nested atomic() that fails rolls back to its savepoint: its job is dropped, the outer
    block's job commits."""
    from django.db import transaction

    with transaction.atomic():
        outer = enqueue(pg_store, "t", "outer")
        (inner,) = in_atomic(lambda: [enqueue(pg_store, "t", "inner")], fail=True)
    assert pg_store.get_job(inner) is None
    assert pg_store.get_job(outer) is not None


def test_enqueue_many_joins_the_block(pg_store: PostgresStore) -> None:
    """enqueue_many writes every job in the block's transaction, in order."""
    jobs = [NewJob(job_type="t", payload=n) for n in range(3)]
    dropped = in_atomic(lambda: list(enqueue_many(pg_store, jobs)), fail=True)
    kept = in_atomic(lambda: list(enqueue_many(pg_store, jobs)))
    assert all(pg_store.get_job(job_id) is None for job_id in dropped)
    found = [pg_store.get_job(job_id) for job_id in kept]
    assert [job.payload for job in found if job is not None] == [0, 1, 2]


def test_outside_atomic_is_refused(pg_store: PostgresStore) -> None:
    """Outside atomic() (where Django autocommits) the helper refuses and writes nothing."""
    with pytest.raises(NotInTransaction, match=r"transaction\.atomic"):
        enqueue(pg_store, "t", 1)
    assert pg_store.stats() == {}


def test_a_block_marked_for_rollback_is_refused(pg_store: PostgresStore) -> None:
    """In a block already marked for rollback, Django's own error stops the enqueue."""
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    with transaction.atomic():
        transaction.set_rollback(True)
        with pytest.raises(TransactionManagementError):
            connection_for()
    assert pg_store.stats() == {}


def test_connection_for_gives_djangos_psycopg_connection(pg_store: PostgresStore) -> None:
    """The helper hands over the very psycopg connection Django's cursor uses."""
    import psycopg
    from django.db import connection, transaction

    with transaction.atomic():
        conn = connection_for()
        assert isinstance(conn, psycopg.Connection)
        assert conn is connection.connection


@pytest.fixture
def my_store() -> Iterator[MySQLStore]:
    from django.db import connections

    with mysql_store() as store:
        yield store
        # Close Django's MariaDB connection before the fixture drops the tables.
        connections["mysql"].close()


def test_mysql_commit_keeps_the_job_and_an_exception_drops_it(my_store: MySQLStore) -> None:
    """On Django's MySQL backend over PyMySQL, the job commits or rolls back with the block."""

    def sign_up(email: str) -> list[str]:
        insert_account(email, using="mysql")
        return [enqueue(my_store, "welcome", {"email": email}, using="mysql")]

    (kept,) = in_atomic(lambda: sign_up("kept@example.com"), using="mysql")
    dropped = in_atomic(lambda: sign_up("dropped@example.com"), using="mysql", fail=True)
    dropped += in_atomic(
        lambda: list(enqueue_many(my_store, [NewJob(job_type="t", payload=1)], using="mysql")),
        using="mysql",
        fail=True,
    )

    assert all(my_store.get_job(job_id) is None for job_id in dropped)
    job = my_store.get_job(kept)
    assert job is not None
    assert job.payload == {"email": "kept@example.com"}
    assert mysql_rows(f"SELECT email FROM `{MYSQL_ACCOUNT_TABLE}`") == [("kept@example.com",)]


def test_handlers_using_djangos_connection_on_worker_threads(pg_store: PostgresStore) -> None:
    """A handler on a worker thread writes through Django's connection for that thread (its
    own transaction, not the claim's); the documented middleware closes it around each job."""
    from django.db import close_old_connections, connections, transaction

    seen: list[bool] = []

    def django_connections(job: Job, ctx: JobContext, call_next: CallNext) -> None:
        close_old_connections()
        try:
            call_next(job, ctx)
        finally:
            close_old_connections()

    def handle(job_type: str, payload: Any) -> None:
        insert_account(payload["email"])
        seen.append(connections["default"].connection is not None)

    with transaction.atomic():
        enqueue(pg_store, "t", {"email": "one@example.com"})
        enqueue(pg_store, "t", {"email": "two@example.com"})
    with QueueWorker(pg_store, handle, middleware=[django_connections]) as worker:
        assert worker.wait_idle(timeout=10)
    assert pg_accounts() == ["one@example.com", "two@example.com"]
    assert pg_store.stats()["default"].succeeded == 2
    assert seen == [True, True]
