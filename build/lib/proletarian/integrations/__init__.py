"""Helpers that fit proletarian into application frameworks, each an optional extra:

* `proletarian.integrations.django`: enqueue inside `transaction.atomic()` (extra `django`);
* `proletarian.integrations.sqlalchemy`: enqueue in a Session's or Connection's transaction,
  sync or asyncio (extra `sqlalchemy`);
* `proletarian.integrations.tenants`: a worker middleware running each tenant's jobs in the
  tenant's PostgreSQL schema (extra `postgres`).

They only hand the framework's driver connection to `proletarian.enqueue` (or wrap handlers);
they import no store adapter, and importing `proletarian` imports none of them.
"""
