"""FastAPI with the outbox: a sign-up endpoint writes the account and enqueues its welcome email
in one transaction of psycopg's AsyncConnection, so both commit or neither does.

Run this file: it sends three requests through the app in-process, then works the jobs off.

    PROLETARIAN_URL=postgresql://127.0.0.1/app python examples/fastapi_app.py

Or, as in production, work them off with the worker as its own process. `requests` only sends
the requests and leaves their jobs queued; the worker and status are told the example's schema
with -o schema=..., as the app tells its store with schema=SCHEMA:

    export PROLETARIAN_URL=postgresql://127.0.0.1/app
    python examples/fastapi_app.py requests
    proletarian worker examples.fastapi_app:handle_job --queue emails -o schema=proletarian_example
    proletarian status -o schema=proletarian_example

PROLETARIAN_URL defaults to the local test server. The tables go into the schema named by
PROLETARIAN_EXAMPLE_SCHEMA (default "proletarian_example"), which each run drops first; the
full run drops it again at the end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

import proletarian
from proletarian import QueueWorker
from proletarian.adapters.postgres import PostgresStore

URL = os.environ.get("PROLETARIAN_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = os.environ.get("PROLETARIAN_EXAMPLE_SCHEMA", "proletarian_example")
ACCOUNT = sql.Identifier(SCHEMA, "account")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The app's own asyncio pool for requests; the store's (sync) pool is only used when
    # enqueueing without conn= and by workers. With conn=, enqueue_async runs on the request's
    # connection and never blocks the event loop.
    store = PostgresStore.connect(URL, schema=SCHEMA, max_size=2)
    store.install_schema()
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (email text PRIMARY KEY)").format(ACCOUNT)
        )
    pool = AsyncConnectionPool(URL, min_size=1, max_size=4, open=False)
    await pool.open()
    app.state.store, app.state.pool = store, pool
    try:
        yield
    finally:
        await pool.close()
        store.close()


app = FastAPI(lifespan=lifespan)


class SignUp(BaseModel):
    email: str


@app.post("/accounts", status_code=201)
async def create_account(body: SignUp, request: Request) -> dict[str, str]:
    store: PostgresStore = request.app.state.store
    pool: AsyncConnectionPool[Any] = request.app.state.pool
    # pool.connection() commits when the block ends and rolls back if it raises: the account
    # and its job commit together or not at all.
    async with pool.connection() as conn:
        await conn.execute(
            sql.SQL("INSERT INTO {} (email) VALUES (%s)").format(ACCOUNT), [body.email]
        )
        job_id = await proletarian.enqueue_async(
            store, "send-welcome", {"email": body.email}, conn=conn, queue="emails"
        )
        if body.email.endswith("@blocked.example"):
            raise HTTPException(status_code=422, detail="this domain is blocked")
    return {"job_id": job_id}


def handle_job(job_type: str, payload: Any) -> None:
    """The worker's handler, for `proletarian worker examples.fastapi_app:handle_job
    --queue emails -o schema=proletarian_example` (see the module's docstring)."""
    print(f"worker: welcome email sent to {payload['email']}", flush=True)


def main(requests_only: bool) -> None:
    drop_schema()
    with TestClient(app) as client:
        for email in ("ada@example.com", "mallory@blocked.example", "grace@example.com"):
            response = client.post("/accounts", json={"email": email})
            print(f"POST /accounts {email}: {response.status_code}")
        if requests_only:
            print(f"jobs queued on 'emails' in schema {SCHEMA}: start the worker")
            return
        store: PostgresStore = app.state.store
        QueueWorker(store, handle_job, queue="emails").drain()
        stats = store.stats()["emails"]
        print(f"succeeded {stats.succeeded}, waiting {stats.ready}")
    drop_schema()


def drop_schema() -> None:
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))


if __name__ == "__main__":
    if sys.argv[1:] not in ([], ["requests"]):
        sys.exit("usage: python examples/fastapi_app.py [requests]")
    main(requests_only=sys.argv[1:] == ["requests"])
