"""Schema-per-tenant: each job names its tenant in `meta`, and TenantMiddleware runs its handler
with the tenant's PostgreSQL schema as search_path, so `INSERT INTO invoice` lands in that
tenant's table. A job for an unknown tenant fails; it never runs in another schema.

    PROLETARIAN_URL=postgresql://127.0.0.1/app python examples/tenants.py

PROLETARIAN_URL defaults to the local test server. The queue's tables go into the schema named
by PROLETARIAN_EXAMPLE_SCHEMA (default "proletarian_example"), the tenants' into that name with
"_acme" and "_globex" appended; this file drops all three at the end.
"""

from __future__ import annotations

import os

import psycopg
from psycopg import sql

import proletarian
from proletarian import Job, JobContext, QueueWorker
from proletarian.adapters.postgres import PostgresStore
from proletarian.integrations.tenants import TenantMiddleware

URL = os.environ.get("PROLETARIAN_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = os.environ.get("PROLETARIAN_EXAMPLE_SCHEMA", "proletarian_example")
TENANTS = {"acme": f"{SCHEMA}_acme", "globex": f"{SCHEMA}_globex"}


def record_invoice(job: Job, ctx: JobContext) -> None:
    """Writes through the claim's transaction: committed with the job's success, in the schema
    the middleware chose (the table name is not qualified)."""
    assert ctx.connection is not None
    ctx.connection.execute("INSERT INTO invoice (number) VALUES (%s)", [job.payload["number"]])


def create_schemas(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    for schema in (SCHEMA, *TENANTS.values()):
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    for schema in TENANTS.values():
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE {} (number text)").format(sql.Identifier(schema, "invoice"))
        )


def main() -> None:
    with psycopg.connect(URL, autocommit=True) as admin:
        create_schemas(admin)
        store = PostgresStore.connect(URL, schema=SCHEMA, max_size=2)
        try:
            store.install_schema()
            proletarian.enqueue(store, "invoice", {"number": "A-1"}, meta={"tenant": "acme"})
            proletarian.enqueue(store, "invoice", {"number": "G-1"}, meta={"tenant": "globex"})
            proletarian.enqueue(store, "invoice", {"number": "A-2"}, meta={"tenant": "acme"})
            lost = proletarian.enqueue(
                store, "invoice", {"number": "I-1"}, meta={"tenant": "initech"}
            )

            worker = QueueWorker(
                store,
                record_invoice,
                handler_mode="advanced",
                middleware=[TenantMiddleware(TENANTS)],
            )
            worker.drain()

            for tenant, schema in TENANTS.items():
                query = sql.SQL("SELECT number FROM {} ORDER BY 1")
                rows = admin.execute(query.format(sql.Identifier(schema, "invoice"))).fetchall()
                print(f"{tenant}: {', '.join(str(row[0]) for row in rows)}")
            job = store.get_job(lost)
            if job is not None and job.error is not None:
                print(f"initech: {job.status.value} with {job.error.type}: {job.error.message}")
        finally:
            store.close()
            for schema in (SCHEMA, *TENANTS.values()):
                admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


if __name__ == "__main__":
    main()
