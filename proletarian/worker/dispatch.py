"""Turning the handler a worker is given into the one call it makes for each job.

The handler mode is read here, once, when the worker is built: whatever the mode, the worker
then calls `(job, ctx)` under its middleware.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import cast

from proletarian.core.errors import ConfigurationError
from proletarian.core.job import Job
from proletarian.core.signatures import written_for
from proletarian.worker.context import (
    AdvancedHandler,
    CallNext,
    DefaultHandler,
    HandlerMode,
    JobContext,
    Middleware,
)
from proletarian.worker.handlers import Handlers


def job_call(
    handler: DefaultHandler | AdvancedHandler | Handlers,
    mode: HandlerMode,
    middleware: Sequence[Middleware] = (),
) -> CallNext:
    """The handler as a function of `(job, ctx)`, wrapped in `middleware` (the first
    outermost). A `Handlers` registry runs in advanced mode whatever `mode` says.

    ConfigurationError for an unknown mode, a handler that is not callable or is an async
    function, and a handler whose parameters plainly name the other mode's arguments (it would
    fail every job, see core/signatures.py). The call raises ConfigurationError, failing the
    attempt, when the handler returns an awaitable: it did no work."""
    if mode not in ("default", "advanced"):
        raise ConfigurationError(f"handler_mode must be 'default' or 'advanced', got {mode!r}")
    if not callable(handler):
        raise ConfigurationError(f"handler must be callable, got {handler!r}")
    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004
    ):
        raise ConfigurationError(
            "handler is an async function; the threaded worker needs a plain function"
        )
    if isinstance(handler, Handlers):
        call = _refusing_awaitables(handler.dispatch)
    else:
        written = written_for(handler)
        if written is not None and written[0] != mode:
            raise ConfigurationError(
                f"handler takes ({written[1]}), the {written[0]} mode's arguments; "
                f"pass handler_mode={written[0]!r}"
            )
        # QueueWorker's overloads pair the handler's type with its mode for type checkers.
        if mode == "advanced":
            call = _refusing_awaitables(cast(AdvancedHandler, handler))
        else:
            call = _refusing_awaitables(_of_payload(cast(DefaultHandler, handler)))
    for outer in reversed(middleware):
        call = _wrapped(outer, call)
    return call


def _of_payload(handler: DefaultHandler) -> AdvancedHandler:
    def call(job: Job, ctx: JobContext) -> object:
        return handler(job.job_type, job.payload)

    return call


def _refusing_awaitables(handler: AdvancedHandler) -> CallNext:
    def call(job: Job, ctx: JobContext) -> None:
        result = handler(job, ctx)
        if hasattr(result, "__await__"):
            close = getattr(result, "close", None)
            if close is not None:
                close()  # a coroutine never awaited would warn when collected
            raise ConfigurationError(
                "the handler returned an awaitable; the threaded worker needs a plain function"
            )

    return call


def _wrapped(middleware: Middleware, call_next: CallNext) -> CallNext:
    def call(job: Job, ctx: JobContext) -> None:
        middleware(job, ctx, call_next)

    return call
