"""Reading which handler mode a handler was written for, from its first two parameters, and
QueueWorker refusing a handler written for the other mode."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import pytest

import proletarian
from proletarian import ConfigurationError, Job, JobContext, QueueWorker
from proletarian.adapters.memory import MemoryStore
from proletarian.core.signatures import written_for


def annotated_advanced(job: Job, ctx: JobContext) -> None: ...


def qualified_advanced(job: proletarian.Job, context: proletarian.JobContext) -> None: ...


def named_advanced(job, ctx):  # type: ignore[no-untyped-def]
    ...


def annotated_default(job_type: str, payload: dict[str, Any]) -> None: ...


def named_default(job_type, payload):  # type: ignore[no-untyped-def]
    ...


def mixed(job, payload):  # type: ignore[no-untyped-def]
    ...


def silent(a: Any, b: Any) -> None: ...


def one(payload: Any) -> None: ...


def keyword_only(*, job: Job, ctx: JobContext) -> None: ...


def class_annotated(job, ctx):  # type: ignore[no-untyped-def]
    ...


# As a module without `from __future__ import annotations` has them: classes, not strings.
class_annotated.__annotations__ = {"job": Job, "ctx": JobContext}


class Callable2:
    def __call__(self, job: Job, ctx: JobContext) -> None: ...


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (annotated_advanced, ("advanced", "job: Job, ctx: JobContext")),
        (
            qualified_advanced,
            ("advanced", "job: proletarian.Job, context: proletarian.JobContext"),
        ),
        (named_advanced, ("advanced", "job, ctx")),
        (class_annotated, ("advanced", "job: Job, ctx: JobContext")),
        (Callable2(), ("advanced", "job: Job, ctx: JobContext")),
        (functools.partial(annotated_advanced), ("advanced", "job: Job, ctx: JobContext")),
        (annotated_default, ("default", "job_type: str, payload: dict[str, Any]")),
        (named_default, ("default", "job_type, payload")),
    ],
)
def test_a_handler_that_names_a_modes_arguments_is_read_as_that_mode(
    handler: Callable[..., object], expected: tuple[str, str]
) -> None:
    """Annotations (Job, JobContext; str), or names when unannotated, tell the mode, and the
    parameters come back as written for the message."""
    assert written_for(handler) == expected


@pytest.mark.parametrize(
    "handler", [mixed, silent, one, keyword_only, len, print, lambda *args: None]
)
def test_a_handler_that_does_not_say_is_never_read_as_a_mode(
    handler: Callable[..., object],
) -> None:
    """Mixed or absent evidence, fewer than two positional parameters, or no readable
    signature: no mode, so nothing is refused on a guess."""
    assert written_for(handler) is None


@pytest.mark.parametrize(
    ("handler", "mode", "fragment"),
    [
        (
            annotated_advanced,
            "default",
            "the advanced mode's arguments; pass handler_mode='advanced'",
        ),
        (named_default, "advanced", "the default mode's arguments; pass handler_mode='default'"),
    ],
)
def test_queue_worker_refuses_a_handler_of_the_other_mode(
    handler: Callable[..., object], mode: str, fragment: str
) -> None:
    """QueueWorker applies the same reading: a mismatch is a ConfigurationError when the worker
    is built, not an AttributeError on every job."""
    with pytest.raises(ConfigurationError, match=re.escape(fragment)):
        QueueWorker(MemoryStore(), handler, handler_mode=mode)  # type: ignore[call-overload]


def test_queue_worker_takes_handlers_that_fit_or_say_nothing() -> None:
    """Handlers of their mode, silent ones and a registry (in either mode) are accepted."""
    store = MemoryStore()
    QueueWorker(store, annotated_advanced, handler_mode="advanced")
    QueueWorker(store, annotated_default)
    QueueWorker(store, silent)
    QueueWorker(store, proletarian.Handlers())
    QueueWorker(store, proletarian.Handlers(), handler_mode="advanced")
