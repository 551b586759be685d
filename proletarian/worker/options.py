"""A worker's options as one frozen value, checked when it is made."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import attrs

from proletarian.core.checks import optional_duration, positive_duration, positive_int, validator
from proletarian.core.errors import ConfigurationError
from proletarian.core.names import queue_names
from proletarian.core.policy import RetryPolicy
from proletarian.core.schedule import Schedule
from proletarian.ports.store import BatchClaimer, QueueStore
from proletarian.worker.context import Middleware, OnFailed, RetryFunction


def _worker_id(value: str | None) -> str:
    return value or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _middleware(value: Sequence[Middleware]) -> tuple[Middleware, ...]:
    return tuple(value)


def _schedules(value: Sequence[Schedule]) -> tuple[Schedule, ...]:
    return tuple(value)


def _retry(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, RetryPolicy) and not callable(value):
        raise ConfigurationError(
            "retry must be a RetryPolicy, a function (job, exc) -> RetryPolicy, or None; "
            f"got {value!r}"
        )


@attrs.frozen(kw_only=True)
class WorkerOptions:
    """The options of a QueueWorker, which documents each one. ConfigurationError names the
    first bad one."""

    queues: tuple[str, ...] = attrs.field(default=("default",), converter=queue_names)
    threads: int = attrs.field(default=1, validator=validator(positive_int))
    polling_interval: timedelta = attrs.field(
        default=timedelta(seconds=1), validator=validator(positive_duration)
    )
    shutdown_timeout: timedelta = attrs.field(
        default=timedelta(seconds=10), validator=validator(positive_duration)
    )
    timeout_grace: timedelta = attrs.field(
        default=timedelta(seconds=30), validator=validator(positive_duration)
    )
    timeout: timedelta | None = attrs.field(default=None, validator=validator(optional_duration))
    batch_size: int = attrs.field(default=1, validator=validator(positive_int))
    max_abandons: int = attrs.field(default=3, validator=validator(positive_int))
    retry: RetryPolicy | RetryFunction | None = attrs.field(default=None, validator=_retry)
    on_failed: OnFailed | None = None
    middleware: tuple[Middleware, ...] = attrs.field(default=(), converter=_middleware)
    # Default: <host>:<pid>:<random hex>, so two workers of one process differ.
    worker_id: str = attrs.field(default=None, converter=_worker_id)
    # Checked by the Scheduler the worker builds from them.
    schedules: tuple[Schedule, ...] = attrs.field(default=(), converter=_schedules)

    def check_fit(self, store: QueueStore, *, timeouts_per_type: bool) -> None:
        """What these options ask of the store and the handler: batches need a store that
        claims them, and can't be cut (`timeouts_per_type`: the handler, a registry, sets
        timeouts of its own)."""
        if self.batch_size == 1:
            return
        if not isinstance(store, BatchClaimer):
            raise ConfigurationError(
                f"batch_size={self.batch_size} needs a store that claims batches; "
                f"{type(store).__name__} does not (use batch_size=1)"
            )
        if self.timeout is not None or timeouts_per_type:
            raise ConfigurationError(
                "timeouts need batch_size=1: a batch shares one transaction, so one of its jobs "
                "can't be cut alone"
            )
