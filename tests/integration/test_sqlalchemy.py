"""Enqueue in SQLAlchemy 2 transactions: Session and Connection on postgresql+psycopg (sync and
asyncio) and on mysql+pymysql; rollback drops the job, commit keeps it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from proletarian import ConfigurationError, NewJob
from proletarian.adapters.mysql import MySQLStore
from proletarian.adapters.postgres import PostgresStore
from proletarian.integrations.sqlalchemy import (
    driver_connection,
    driver_connection_async,
    enqueue,
    enqueue_async,
    enqueue_many,
    enqueue_many_async,
)
from proletarian.ports.store import QueueStore
from tests.fixtures.integrations import (
    APPLICATION,
    MYSQL_ACCOUNT_TABLE,
    PG_SCHEMA,
    mysql_rows,
    mysql_store,
    pg_rows,
    postgres_store,
)
from tests.fixtures.servers import MYSQL_URL, POSTGRES_URL


class Base(DeclarativeBase):
    pass


class Account(Base):
    """The application's own table, in the test schema (see tests/fixtures/integrations.py)."""

    __tablename__ = "account"
    __table_args__ = {"schema": PG_SCHEMA}  # noqa: RUF012 - SQLAlchemy's declarative form
    email: Mapped[str] = mapped_column(primary_key=True)


class Rollback(Exception):
    """Raised inside a transaction block to roll it back, as a failing request would."""


def sign_up(
    session: Session,
    store: QueueStore,
    email: str,
    write: Callable[[Session, str], object],
    *,
    fail: bool,
) -> str:
    """One request: the account and its job in one transaction, rolled back when `fail`."""
    job_ids: list[str] = []
    try:
        with session.begin():
            write(session, email)
            job_ids.append(enqueue(store, "welcome", {"email": email}, session=session))
            if fail:
                raise Rollback
    except Rollback:
        pass
    return job_ids[0]


async def sign_up_async(
    session: AsyncSession, store: PostgresStore, email: str, *, fail: bool
) -> str:
    """`sign_up` on an AsyncSession."""
    job_ids: list[str] = []
    try:
        async with session.begin():
            await session.execute(
                text(f'INSERT INTO "{PG_SCHEMA}".account (email) VALUES (:e)'), {"e": email}
            )
            job_ids.append(await enqueue_async(store, "welcome", {"email": email}, session=session))
            if fail:
                raise Rollback
    except Rollback:
        pass
    return job_ids[0]


def pg_url() -> URL:
    return (
        make_url(POSTGRES_URL)
        .set(drivername="postgresql+psycopg")
        .update_query_dict({"application_name": APPLICATION})
    )


def pg_accounts() -> list[str]:
    return [row[0] for row in pg_rows(f'SELECT email FROM "{PG_SCHEMA}".account ORDER BY 1')]


@pytest.fixture
def pg_store() -> Iterator[PostgresStore]:
    with postgres_store() as store:
        yield store


@pytest.fixture
def engine(pg_store: PostgresStore) -> Iterator[Engine]:
    engine = create_engine(pg_url())
    yield engine
    engine.dispose()


def test_session_commit_keeps_the_job_and_rollback_drops_it(
    pg_store: PostgresStore, engine: Engine
) -> None:
    """A job enqueued in a Session's transaction commits with the session's ORM writes, and
    is dropped with them when the transaction rolls back."""

    def add(session: Session, email: str) -> None:
        session.add(Account(email=email))

    with Session(engine) as session:
        dropped = sign_up(session, pg_store, "dropped@example.com", add, fail=True)
        kept = sign_up(session, pg_store, "kept@example.com", add, fail=False)
        with session.begin():
            options = enqueue(pg_store, "t", 1, session=session, queue="mail", meta={"k": "v"})
    assert pg_store.get_job(dropped) is None
    job = pg_store.get_job(kept)
    assert job is not None
    assert job.payload == {"email": "kept@example.com"}
    with_options = pg_store.get_job(options)
    assert with_options is not None
    assert (with_options.queue, with_options.meta) == ("mail", {"k": "v"})
    assert pg_accounts() == ["kept@example.com"]


def test_connection_transaction_is_joined_and_begun_if_needed(
    pg_store: PostgresStore, engine: Engine
) -> None:
    """On a Connection with no transaction open, the helper begins one (as any execute would):
    conn.rollback() drops the job, conn.commit() keeps it."""
    with engine.connect() as conn:
        dropped = enqueue(pg_store, "t", 1, session=conn)
        assert conn.in_transaction()
        conn.rollback()
        kept = enqueue_many(
            pg_store, [NewJob(job_type="t", payload=n) for n in (2, 3)], session=conn
        )
        conn.commit()
    assert pg_store.get_job(dropped) is None
    found = [pg_store.get_job(job_id) for job_id in kept]
    assert [job.payload for job in found if job is not None] == [2, 3]


def test_driver_connection_is_the_sessions_psycopg_connection(engine: Engine) -> None:
    """The helper hands over the psycopg connection the Session's transaction runs on."""
    with Session(engine) as session, session.begin():
        conn = driver_connection(session)
        assert isinstance(conn, psycopg.Connection)
        # Not autocommit: the driver opens its transaction at the first statement, and the
        # session's commit or rollback ends it.
        assert conn.autocommit is False
        assert conn is session.connection().connection.driver_connection


def test_wrong_kinds_are_refused(pg_store: PostgresStore) -> None:
    """Something that is neither a Session nor a Connection raises ConfigurationError."""
    with pytest.raises(ConfigurationError, match=r"Session or sqlalchemy\.engine\.Connection"):
        enqueue(pg_store, "t", 1, session=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="AsyncSession or AsyncConnection"):
        asyncio.run(driver_connection_async(object()))  # type: ignore[arg-type]


async def async_session_scenario(store: PostgresStore, engine: AsyncEngine) -> list[str]:
    async with AsyncSession(engine) as session:
        dropped = await sign_up_async(session, store, "dropped@example.com", fail=True)
        kept = await sign_up_async(session, store, "kept@example.com", fail=False)
        async with session.begin():
            raw = await driver_connection_async(session)
            assert isinstance(raw, psycopg.AsyncConnection)
    await engine.dispose()
    return [dropped, kept]


def test_async_session_commit_keeps_the_job_and_rollback_drops_it(
    pg_store: PostgresStore,
) -> None:
    """On an AsyncSession (postgresql+psycopg), the job joins the session's transaction over
    psycopg's AsyncConnection: rollback drops it, commit keeps it."""
    dropped, kept = asyncio.run(async_session_scenario(pg_store, create_async_engine(pg_url())))
    assert pg_store.get_job(dropped) is None
    job = pg_store.get_job(kept)
    assert job is not None
    assert job.payload == {"email": "kept@example.com"}
    assert pg_accounts() == ["kept@example.com"]


async def async_connection_scenario(
    store: PostgresStore, engine: AsyncEngine
) -> tuple[list[str], list[str]]:
    async with engine.connect() as conn:
        dropped = await enqueue_many_async(
            store, [NewJob(job_type="t", payload=n) for n in (1, 2)], session=conn
        )
        await conn.rollback()
        kept = await enqueue_many_async(
            store, [NewJob(job_type="t", payload=n) for n in (3, 4)], session=conn
        )
        await conn.commit()
    await engine.dispose()
    return list(dropped), list(kept)


def test_async_connection_transaction_is_joined(pg_store: PostgresStore) -> None:
    """On an AsyncConnection with no transaction open, the helper begins one; rollback drops
    the jobs, commit keeps them."""
    dropped, kept = asyncio.run(async_connection_scenario(pg_store, create_async_engine(pg_url())))
    assert all(pg_store.get_job(job_id) is None for job_id in dropped)
    found = [pg_store.get_job(job_id) for job_id in kept]
    assert [job.payload for job in found if job is not None] == [3, 4]


def test_mysql_session_commit_keeps_the_job_and_rollback_drops_it() -> None:
    """On mysql+pymysql, the job commits or rolls back with the Session's transaction."""
    insert = text(f"INSERT INTO `{MYSQL_ACCOUNT_TABLE}` (email) VALUES (:e)")

    def write(session: Session, email: str) -> None:
        session.execute(insert, {"e": email})

    with mysql_store() as store:
        engine = create_engine(make_url(MYSQL_URL).set(drivername="mysql+pymysql"))
        try:
            with Session(engine) as session:
                dropped = sign_up(session, store, "dropped@example.com", write, fail=True)
                kept = sign_up(session, store, "kept@example.com", write, fail=False)
        finally:
            engine.dispose()
        assert store.get_job(dropped) is None
        job = store.get_job(kept)
        assert job is not None
        assert job.payload == {"email": "kept@example.com"}
        assert mysql_rows(f"SELECT email FROM `{MYSQL_ACCOUNT_TABLE}`") == [("kept@example.com",)]


def test_mismatched_store_and_driver_is_refused(engine: Engine) -> None:
    """A MySQLStore given a session on psycopg refuses the connection: the job would be
    written where no worker of that store looks."""
    store = MySQLStore.connect(MYSQL_URL)
    try:
        with Session(engine) as session, pytest.raises(ConfigurationError, match="pymysql"):
            enqueue(store, "t", 1, session=session)
    finally:
        store.close()
