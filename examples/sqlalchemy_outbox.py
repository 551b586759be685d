"""SQLAlchemy 2 with the outbox: the account and its welcome email commit together, in a sync
`Session` and in an asyncio `AsyncSession` (both on postgresql+psycopg).

    PROLETARIAN_URL=postgresql://127.0.0.1/app python examples/sqlalchemy_outbox.py

PROLETARIAN_URL defaults to the local test server. The tables go into the schema named by
PROLETARIAN_EXAMPLE_SCHEMA (default "proletarian_example"), which this file drops at the end.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.schema import CreateSchema, DropSchema

from proletarian import QueueWorker
from proletarian.adapters.postgres import PostgresStore
from proletarian.integrations.sqlalchemy import enqueue, enqueue_async

URL = os.environ.get("PROLETARIAN_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = os.environ.get("PROLETARIAN_EXAMPLE_SCHEMA", "proletarian_example")
# The same server for SQLAlchemy, through psycopg 3 (sync and asyncio).
ENGINE_URL = make_url(URL).set(drivername="postgresql+psycopg")


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "account"
    __table_args__ = {"schema": SCHEMA}  # noqa: RUF012 - SQLAlchemy's declarative form
    email: Mapped[str] = mapped_column(primary_key=True)


class PaymentDeclined(Exception):
    pass


def sign_up(session: Session, store: PostgresStore, email: str, *, card_ok: bool = True) -> None:
    try:
        with session.begin():  # commits at the end of the block, rolls back if it raises
            session.add(Account(email=email))
            enqueue(store, "send-welcome", {"email": email}, session=session, queue="emails")
            if not card_ok:
                raise PaymentDeclined(email)
        print(f"signed up {email}")
    except PaymentDeclined:
        print(f"sign-up of {email} rolled back: no account, no email")


async def sign_up_async(session: AsyncSession, store: PostgresStore, email: str) -> None:
    async with session.begin():
        session.add(Account(email=email))
        await enqueue_async(
            store, "send-welcome", {"email": email}, session=session, queue="emails"
        )
    print(f"signed up {email} (asyncio)")


async def async_part(store: PostgresStore) -> None:
    engine = create_async_engine(ENGINE_URL)
    async with AsyncSession(engine) as session:
        await sign_up_async(session, store, "linus@example.com")
    await engine.dispose()


def handle_job(job_type: str, payload: Any) -> None:
    print(f"worker: welcome email sent to {payload['email']}")


def main() -> None:
    engine = create_engine(ENGINE_URL)
    with engine.begin() as conn:
        conn.execute(DropSchema(SCHEMA, cascade=True, if_exists=True))
        conn.execute(CreateSchema(SCHEMA))
    Base.metadata.create_all(engine)
    store = PostgresStore.connect(URL, schema=SCHEMA, max_size=2)
    try:
        store.install_schema()
        with Session(engine) as session:
            sign_up(session, store, "ada@example.com")
            sign_up(session, store, "mallory@example.com", card_ok=False)
        asyncio.run(async_part(store))

        QueueWorker(store, handle_job, queue="emails").drain()
        with Session(engine) as session:
            emails = session.scalars(select(Account.email).order_by(Account.email)).all()
        print(f"accounts: {', '.join(emails)}")
    finally:
        store.close()
        with engine.begin() as conn:
            conn.execute(DropSchema(SCHEMA, cascade=True))
        engine.dispose()


if __name__ == "__main__":
    main()
