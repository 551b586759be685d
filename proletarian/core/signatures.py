"""Which handler mode a handler was written for, read from its parameters.

A handler written for the other mode fails every job: `def handle(job, ctx)` called in the
default mode as `handle(job_type, payload)` raises "'str' object has no attribute 'payload'"
on each one. Reading the signature lets the worker refuse the mismatch before any job runs.
Only plain evidence counts, so a handler that says nothing is never refused.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def written_for(handler: Callable[..., object]) -> tuple[str, str] | None:
    """("advanced" or "default", the two parameters as written: "job: Job, ctx: JobContext")
    when `handler`'s first two positional parameters plainly name one mode's arguments: by
    their annotations (Job and JobContext; str for the job type) or, unannotated, by their
    names (job and ctx or context; job_type and payload). None when its signature can't be
    read, has fewer than two such parameters, or its evidence is absent or mixed."""
    try:
        parameters = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):  # builtins and other callables without a signature
        return None
    first_two = []
    for parameter in parameters[:2]:
        if parameter.kind not in _POSITIONAL:
            return None
        first_two.append((parameter.name, _annotation(parameter)))
    if len(first_two) < 2:
        return None
    (first, first_written), (second, second_written) = first_two
    first_type, second_type = _last_name(first_written), _last_name(second_written)
    advanced = (first_type == "Job" or (not first_type and first == "job")) + (
        second_type == "JobContext" or (not second_type and second in ("ctx", "context"))
    )
    default = (first_type == "str" or (not first_type and first == "job_type")) + (
        second == "payload" and second_type != "JobContext"
    )
    written = ", ".join(f"{name}: {kind}" if kind else name for name, kind in first_two)
    if advanced and not default:
        return "advanced", written
    if default and not advanced:
        return "default", written
    return None


def _annotation(parameter: inspect.Parameter) -> str:
    """The annotation as written, '' if there is none. Often a string already (`from
    __future__ import annotations`), so annotations are compared as text."""
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):  # as a reader would write it: Job, not its module path
        return annotation.__qualname__
    return inspect.formatannotation(annotation)


def _last_name(annotation: str) -> str:
    """The last dotted name, Job for proletarian.Job: how a module imported it doesn't matter."""
    return annotation.rsplit(".", 1)[-1].strip()
