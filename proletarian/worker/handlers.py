"""A registry of handlers by job type, with retry policies per type."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal, TypeVar, overload

from proletarian.core.checks import optional_duration
from proletarian.core.errors import ConfigurationError, UnknownJobType
from proletarian.core.job import Job
from proletarian.core.names import label
from proletarian.core.policy import RetryPolicy
from proletarian.worker.context import JobContext

# What register() returns the function it decorates as: a function of the payload, or of the
# job and its context (with_context=True).
PayloadFunction = TypeVar("PayloadFunction", bound=Callable[[Any], object])
ContextFunction = TypeVar("ContextFunction", bound=Callable[[Job, JobContext], object])
F = TypeVar("F", bound=Callable[..., object])


class Handlers:
    """Maps job types to functions. A function gets the payload, or `(job, ctx)` when registered
    with `with_context=True`. The registry is itself a handler: give it to QueueWorker, which
    runs it in advanced mode whatever `handler_mode` says. A job type with no function raises
    UnknownJobType, which fails the attempt like any handler error. Register every function
    before the worker starts."""

    def __init__(self) -> None:
        self._functions: dict[str, tuple[Callable[..., Any], bool]] = {}
        self._retry: dict[str, RetryPolicy] = {}
        self._timeouts: dict[str, timedelta] = {}

    @overload
    def register(
        self,
        job_type: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: timedelta | None = None,
        with_context: Literal[False] = False,
    ) -> Callable[[PayloadFunction], PayloadFunction]: ...

    @overload
    def register(
        self,
        job_type: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: timedelta | None = None,
        with_context: Literal[True],
    ) -> Callable[[ContextFunction], ContextFunction]: ...

    @overload
    def register(
        self,
        job_type: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: timedelta | None = None,
        with_context: bool,
    ) -> Callable[[F], F]: ...

    def register(
        self,
        job_type: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: timedelta | None = None,
        with_context: bool = False,
    ) -> Callable[[F], F]:
        """A decorator that registers its function for `job_type` and returns it unchanged.
        ConfigurationError for a job type registered twice, an async function or a bad value.

        Args:
            job_type: The job type the function handles.
            retry: This job type's retry policy, instead of the worker's `retry=`.
            timeout: This job type's timeout, instead of the worker's `timeout=`.
            with_context: Call the function with `(job, ctx)` instead of the payload alone.
        """
        label(job_type, what="job type")
        optional_duration(timeout, what="timeout")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, got {retry!r}")
        if job_type in self._functions:
            raise ConfigurationError(f"a handler for job type {job_type!r} is already registered")

        def decorate(function: F) -> F:
            if inspect.iscoroutinefunction(function):
                raise ConfigurationError(
                    f"handler for {job_type!r} is an async function; the threaded worker needs a "
                    "plain function"
                )
            self._functions[job_type] = (function, with_context)
            if retry is not None:
                self._retry[job_type] = retry
            if timeout is not None:
                self._timeouts[job_type] = timeout
            return function

        return decorate

    def retry_for(self, job_type: str) -> RetryPolicy | None:
        return self._retry.get(job_type)

    def timeout_for(self, job_type: str) -> timedelta | None:
        return self._timeouts.get(job_type)

    @property
    def has_timeouts(self) -> bool:
        return bool(self._timeouts)

    @property
    def job_types(self) -> list[str]:
        """The registered job types, sorted."""
        return sorted(self._functions)

    def dispatch(self, job: Job, ctx: JobContext) -> object:
        try:
            function, with_context = self._functions[job.job_type]
        except KeyError:
            raise UnknownJobType(
                f"no handler registered for job type {job.job_type!r} "
                f"(registered: {', '.join(self.job_types) or 'none'})"
            ) from None
        return function(job, ctx) if with_context else function(job.payload)

    def __call__(self, job_type: str, payload: Any) -> object:
        """Call the function registered for `job_type` with `payload`, as a default-mode handler
        would: to run a job's function directly, outside a worker. UnknownJobType if none is
        registered; ConfigurationError if it was registered `with_context=True`."""
        try:
            function, with_context = self._functions[job_type]
        except KeyError:
            raise UnknownJobType(f"no handler registered for job type {job_type!r}") from None
        if with_context:
            raise ConfigurationError(f"handler for {job_type!r} needs a job and a context")
        return function(payload)
