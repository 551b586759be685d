"""The errors proletarian raises. Every one derives from `ProletarianError`::

    ProletarianError
    ├── ConfigurationError (also ValueError)   bad table name, bad policy, bad job fields
    ├── SerializationError (also ValueError)   a payload the serializer cannot encode or decode
    ├── UnknownJobType (also LookupError)      no handler is registered for a job type
    ├── JobAbandoned                           the job kept ending without an outcome (crashes)
    ├── JobTimeout                             the handler ran past its timeout and was cut
    ├── TransactionAborted                     a handler went on after its SQL failed
    └── StoreError                             the store refused or failed an operation
        ├── StoreUnavailable                   connection lost, server down: worth retrying
        ├── SchemaMissing                      the store's tables (or new columns) aren't there
        └── ClaimLost                          a lease expired; another worker may hold the job

Driver exceptions are translated at the adapter boundary with the original kept as `__cause__`.
"""

from __future__ import annotations


class ProletarianError(Exception):
    """The root of every error raised by proletarian."""


class ConfigurationError(ProletarianError, ValueError):
    """A value given to proletarian is not acceptable; nothing was written."""


class SerializationError(ProletarianError, ValueError):
    """A payload could not be encoded (nothing was written) or a stored one could not be decoded."""


class UnknownJobType(ProletarianError, LookupError):
    """A job's type has no registered handler."""


class JobAbandoned(ProletarianError):
    """The job's attempts ended without an outcome too often (its worker died or lost the store
    while running it, `max_abandons` times): it is archived as failed instead of run again.
    `on_failed` receives this exception."""


class JobTimeout(ProletarianError):
    """The handler was still running a grace period after its timeout: the attempt was cut (its
    transaction rolled back, its connection discarded, its thread given up) and counts as
    failed, retried by the policy. A retry function and `on_failed` receive this exception."""


class TransactionAborted(ProletarianError):
    """A statement the handler ran on `ctx.connection` failed, aborting the claim's transaction,
    and the handler returned normally: the attempt can't succeed and counts as failed."""


class StoreError(ProletarianError):
    """The store failed an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached: the server is down or the connection was lost."""


class SchemaMissing(StoreError):
    """The store's tables, or a column a later release added to them, are not in the database:
    create or upgrade them with `store.install_schema()` (or `proletarian schema apply`)."""


class ClaimLost(StoreError):
    """A leased claim is no longer held (its lease expired and another worker may have the job)."""
