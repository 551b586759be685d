"""Run each tenant's jobs in the tenant's PostgreSQL schema (schema-per-tenant apps).

    from proletarian.integrations.tenants import TenantMiddleware

    worker = QueueWorker(store, handlers, middleware=[TenantMiddleware({"acme": "tenant_acme"})])
    proletarian.enqueue(store, "send-invoice", {...}, meta={"tenant": "acme"})

For a job whose `meta` names a tenant, the middleware switches `ctx.connection` (the claim's
transaction) to the tenant's schema with `SET LOCAL search_path` before the handler runs, so
the handler's unqualified table names resolve in that schema only. Jobs without the meta key
run unchanged, on the connection's usual search_path: give every tenant job its key.

PostgreSQL only (PostgresStore, whose claims are transactions): it needs psycopg, and refuses a
store whose `ctx.connection` is None or not a psycopg connection.

What `SET LOCAL` guarantees here: the setting lasts until the claim's transaction ends, so it
never leaks to the next job on the pooled connection. It is made inside the savepoint the claim
opens when `ctx.connection` is first asked for, so a failing handler's rollback to that
savepoint also undoes it; the store's own statements use schema-qualified names and are not
affected either way. The schema is the whole search_path: shared tables (and extensions
installed in `public`) must be schema-qualified in handlers.

Never a silent fallback: a tenant with no schema (UnknownTenant), a schema that does not exist
(UnknownTenant), or no PostgreSQL connection (TenantError) fails the attempt before the handler
runs. It is an ordinary handler failure: the worker's retry policy applies to it (a retry
function can return None for UnknownTenant to fail such jobs at once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

try:
    import psycopg
    from psycopg import sql
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "TenantMiddleware needs psycopg: pip install 'proletarian[postgres]'"
    ) from exc

from proletarian.core.errors import ConfigurationError, ProletarianError
from proletarian.core.job import Job
from proletarian.core.names import label, table_name
from proletarian.worker.context import CallNext, JobContext

__all__ = ["SchemaLookup", "TenantError", "TenantMiddleware", "UnknownTenant"]

SchemaLookup = Mapping[str, str] | Callable[[str], str | None]
"""Each tenant's schema: a mapping of tenant to schema, or a function `tenant -> schema | None`."""

# SET LOCAL through set_config(..., true), so that the existence check is the same round trip:
# the setting is made only when the schema is found.
_SWITCH = b"SELECT set_config('search_path', %s, true) FROM pg_namespace WHERE nspname = %s"


class TenantError(ProletarianError):
    """A tenant's job could not be switched to the tenant's schema; it failed rather than run
    somewhere else."""


class UnknownTenant(TenantError, LookupError):
    """The tenant named by a job has no schema, or its schema does not exist."""


class TenantMiddleware:
    """A worker middleware: `QueueWorker(..., middleware=[TenantMiddleware(schemas)])`.
    Thread-safe if the `schemas` function is.

    Args:
        schemas: The schema of each tenant: a mapping of tenant name to schema name, checked
            here, or a function `tenant -> schema | None` asked for each job (None: an
            unknown tenant). Schema names are plain SQL identifiers (letters, digits,
            underscore, not starting with a digit; at most 63).
        meta_key: The `job.meta` key that names a job's tenant.
    """

    def __init__(self, schemas: SchemaLookup, *, meta_key: str = "tenant") -> None:
        self.meta_key = label(meta_key, what="meta_key")
        if isinstance(schemas, Mapping):
            checked = {tenant: _schema(schema, tenant) for tenant, schema in schemas.items()}
            self._lookup: Callable[[str], str | None] = checked.get
        elif callable(schemas):
            self._lookup = schemas
        else:
            raise ConfigurationError(
                "TenantMiddleware needs a mapping of tenant to schema, or a function "
                f"tenant -> schema | None; got {type(schemas).__name__}"
            )

    def schema_for(self, tenant: str) -> str:
        """The tenant's validated schema name. Raises UnknownTenant if it has none."""
        schema = self._lookup(tenant)
        if schema is None:
            raise UnknownTenant(f"tenant {tenant!r} has no schema; the job was not run")
        return _schema(schema, tenant)

    def __call__(self, job: Job, ctx: JobContext, call_next: CallNext) -> None:
        tenant = job.meta.get(self.meta_key)
        if tenant is None:
            call_next(job, ctx)
            return
        schema = self.schema_for(tenant)
        conn = ctx.connection
        if not isinstance(conn, psycopg.Connection):
            kind = "no connection" if conn is None else f"a {type(conn).__module__} connection"
            raise TenantError(
                f"job {job.id} of tenant {tenant!r} needs a PostgreSQL claim connection to "
                f"switch to schema {schema!r}, but the store gives {kind}; TenantMiddleware "
                "works with PostgresStore only"
            )
        quoted = sql.Identifier(schema).as_string(conn)
        if conn.execute(_SWITCH, (quoted, schema)).fetchone() is None:
            raise UnknownTenant(
                f"schema {schema!r} of tenant {tenant!r} does not exist; the job was not run"
            )
        call_next(job, ctx)

    def __repr__(self) -> str:
        return f"<TenantMiddleware meta_key={self.meta_key!r}>"


def _schema(schema: object, tenant: str) -> str:
    if not isinstance(schema, str):
        raise ConfigurationError(
            f"the schema of tenant {tenant!r} must be a string, got {type(schema).__name__}"
        )
    parts = table_name(schema, what=f"schema of tenant {tenant!r}")
    if len(parts) != 1:
        raise ConfigurationError(f"schema of tenant {tenant!r} ({schema!r}) must not contain a dot")
    return parts[0]
