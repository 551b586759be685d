"""Core decides, the worker acts: what to do with a job after (or instead of) running it."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from proletarian.core.job import Job, JobError
from proletarian.core.policy import RetryPolicy


@attrs.frozen
class Succeed:
    """Archive the job as succeeded."""


@attrs.frozen(kw_only=True)
class RetryAt:
    """Put the job back on its queue, due at `when`, with `error` recorded for the attempt."""

    when: datetime
    error: JobError


@attrs.frozen(kw_only=True)
class Fail:
    """Archive the job as failed with `error`."""

    error: JobError


Decision = Succeed | RetryAt | Fail


def decide(
    job: Job, error: JobError | None, policy: RetryPolicy, now: datetime, jitter_draw: float
) -> Decision:
    """The outcome of one attempt: success archives; an error retries while attempts remain."""
    if error is None:
        return Succeed()
    if job.attempt <= policy.retries:
        delay = policy.delay(job.attempt, jitter_draw)
        return RetryAt(when=now + timedelta(seconds=delay), error=error)
    return Fail(error=error)


def admit(job: Job, policy: RetryPolicy) -> Fail | None:
    """Refuse a claimed job that has already used every attempt: its earlier attempts were
    abandoned (the worker died holding a lease), so running it again could loop forever."""
    if job.attempt > policy.max_attempts:
        return Fail(
            error=JobError(
                type="Abandoned",
                message=(
                    f"attempt {job.attempt} exceeds the {policy.max_attempts} allowed: "
                    "earlier attempts ended without an outcome (worker died holding the job)"
                ),
            )
        )
    return None
