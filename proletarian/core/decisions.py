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
