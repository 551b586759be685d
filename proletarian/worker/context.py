"""What a handler in advanced mode sees besides the job, and the handler shapes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from proletarian.core.job import Job
from proletarian.ports.store import Claim


@attrs.frozen(kw_only=True)
class JobContext:
    """What a handler sees besides its job. `stopping` is set when the worker shuts down or the
    job's `deadline` (its timeout, if it has one) has passed: long handlers should check it and
    return early. A handler still running a grace period after its deadline is cut."""

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


DefaultHandler = Callable[[str, Any], object]
AdvancedHandler = Callable[[Job, JobContext], object]
CallNext = Callable[[Job, JobContext], None]
Middleware = Callable[[Job, JobContext, CallNext], None]
"""A middleware wraps the handler: it may act before and after `call_next(job, ctx)`, pass on an
evolved job or context, or raise to fail the attempt."""
