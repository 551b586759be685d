"""proletarian: a durable job queue with transactional enqueue.

Stores are imported by path (`proletarian.adapters.postgres`, ...) or built by `open_store(url)`;
importing this package loads no database driver.
"""

from proletarian.core.errors import (
    ClaimLost,
    ConfigurationError,
    JobAbandoned,
    ProletarianError,
    SchemaMissing,
    SerializationError,
    StoreError,
    StoreUnavailable,
    UnknownJobType,
)
from proletarian.core.job import Job, JobError, JobId, JobStatus, NewJob, Priority, QueueStats
from proletarian.core.policy import RetryPolicy
from proletarian.core.schedule import Schedule
from proletarian.enqueue import enqueue, enqueue_async, enqueue_many, enqueue_many_async
from proletarian.stores import open_store
from proletarian.worker.context import JobContext
from proletarian.worker.handlers import Handlers
from proletarian.worker.log import JsonFormatter, LogfmtFormatter
from proletarian.worker.queue_worker import QueueWorker
from proletarian.worker.scheduler import Scheduler

__all__ = [
    "ClaimLost",
    "ConfigurationError",
    "Handlers",
    "Job",
    "JobAbandoned",
    "JobContext",
    "JobError",
    "JobId",
    "JobStatus",
    "JsonFormatter",
    "LogfmtFormatter",
    "NewJob",
    "Priority",
    "ProletarianError",
    "QueueStats",
    "QueueWorker",
    "RetryPolicy",
    "Schedule",
    "Scheduler",
    "SchemaMissing",
    "SerializationError",
    "StoreError",
    "StoreUnavailable",
    "UnknownJobType",
    "enqueue",
    "enqueue_async",
    "enqueue_many",
    "enqueue_many_async",
    "open_store",
]
