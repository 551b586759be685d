"""What a handler in advanced mode sees besides the job, and the handler shapes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import attrs

from proletarian.core.job import Job
from proletarian.core.policy import RetryPolicy
from proletarian.ports.store import Claim


@attrs.frozen(kw_only=True)
class JobContext:
    """What a handler in advanced mode (and middleware) gets besides its job. Built by the
    worker for each attempt.

    Attributes:
        claim: The store's claim on the job. The worker ends it: a handler must not call its
            `succeed`, `retry_at`, `fail` or `abandon`.
        stopping: Set when the worker is stopping or the job's `deadline` has passed: a long
            handler should check it and return early (or raise to be retried). A handler still
            running a grace period after its deadline is cut.
        worker_id: Who runs the job: `QueueWorker.worker_id`, plus `:<thread index>` on the
            worker's own threads.
        deadline: When the job's timeout passes, or None without a timeout.
    """

    claim: Claim
    stopping: threading.Event
    worker_id: str
    deadline: datetime | None = None

    @property
    def connection(self) -> Any | None:
        """The open transaction holding the claim: writes on it commit atomically with the job's
        completion and roll back when the handler raises. None for stores without one.
        Reached lazily, so a handler that never asks pays for no savepoint."""
        return self.claim.connection


HandlerMode = Literal["default", "advanced"]
"""How the worker calls its handler: `(job_type, payload)` or `(job, ctx)`."""
DefaultHandler = Callable[[str, Any], object]
"""A handler in default mode: called with the job's type and payload."""
AdvancedHandler = Callable[[Job, JobContext], object]
"""A handler in advanced mode: called with the job and its context."""
RetryFunction = Callable[[Job, BaseException], RetryPolicy | None]
"""Decides a failed attempt's retry (`QueueWorker(retry=...)`): called with the job and the
exception; the policy returned decides this attempt, None means no retry."""
OnFailed = Callable[[Job, BaseException], object]
"""Called after a job is archived as failed (`QueueWorker(on_failed=...)`), with the job and the
exception of its last attempt."""
CallNext = Callable[[Job, JobContext], None]
"""What a middleware calls to run the rest of the chain: the next middleware, then the
handler."""
Middleware = Callable[[Job, JobContext, CallNext], None]
"""A middleware wraps the handler: it may act before and after `call_next(job, ctx)`, pass on an
evolved job or context, skip `call_next`, or raise to fail the attempt."""
