"""Core decides, the worker acts: what to do with a job after (or instead of) running it."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from proletarian.core.errors import ConfigurationError
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


def admit(job: Job, max_abandons: int) -> Fail | None:
    """Refuse a claimed job whose attempts ended without an outcome `max_abandons` times: a job
    that kills its worker (os._exit, the OOM killer, a crashing C extension) would otherwise be
    claimed first by every restarted worker, forever. Counted apart from the retry policy, so a
    job cut once by a crash or a lost connection still gets its run."""
    if job.abandons < max_abandons:
        return None
    return Fail(
        error=JobError(
            type="JobAbandoned",
            message=(
                f"job {job.id} was abandoned {job.abandons} times: each of those attempts ended "
                "without an outcome because its worker died or lost the store while running it "
                f"(the job may be killing its worker); not run again (max_abandons={max_abandons})"
            ),
        )
    )


def check_duration(value: timedelta | None, *, what: str) -> timedelta | None:
    """A timeout: None (no limit) or a positive timedelta."""
    if value is not None and (not isinstance(value, timedelta) or value <= timedelta(0)):
        raise ConfigurationError(f"{what} must be a positive timedelta or None, got {value!r}")
    return value


def check_max_abandons(value: int) -> int:
    """The abandon limit: how many attempts without an outcome a job may have; 1 or more."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"max_abandons must be an int >= 1, got {value!r}")
    return value
